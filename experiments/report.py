"""Terminal tables for run summaries."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def print_summary(
    summary: dict[str, Any], title: str = "results", console: Console | None = None
) -> None:
    """Per-task success with Wilson 95% intervals, then per-step latency statistics (ms)."""
    console = console or Console()
    table = Table(title=title)
    for col in ("task", "episodes", "success %", "95% CI", "mean steps"):
        table.add_column(col, justify="left" if col == "task" else "right")
    rows = [*summary["per_task"].items(), ("ALL", summary)]
    for name, block in rows:
        lo, hi = block["success_ci95"]
        table.add_row(
            name,
            str(block["episodes"]),
            _pct(block["success_rate"]),
            f"[{_pct(lo)}, {_pct(hi)}]",
            f"{block['mean_steps']:.0f}",
        )
    console.print(table)
    timed = summary.get("time_aware")
    if timed:
        console.print(time_aware_line(timed))
    lat = summary.get("step_latency_ms", {})
    if lat:
        lt = Table(title="per-step latency (ms)")
        for col in ("field", "mean", "p50", "p95", "max", "steps"):
            lt.add_column(col, justify="left" if col == "field" else "right")
        for name, s in lat.items():
            lt.add_row(
                name,
                f"{s['mean']:.2f}",
                f"{s['p50']:.2f}",
                f"{s['p95']:.2f}",
                f"{s['max']:.2f}",
                str(s["n"]),
            )
        console.print(lt)


def time_aware_line(timed: dict[str, Any]) -> str:
    """Success under both budgets and the mean time to success (world s), one line."""
    parts = []
    for name, block in timed["budgets"].items():
        if block is None:
            parts.append(f"{name}: n/a (run with eval.budget=executed_actions)")
            continue
        lo, hi = block["success_ci95"]
        parts.append(
            f"{name}: {block['successes']}/{block['episodes']} = {_pct(block['success_rate'])}% "
            f"[{_pct(lo)}, {_pct(hi)}]"
        )
    return (
        f"budget={timed['budget']} (limit {timed['world_step_limit']}) | "
        + " | ".join(parts)
        + f" | time to success {timed['mean_time_to_success_s']:.2f} s"
        + f" | hold {_pct(timed['mean_hold_fraction'])}% | executor {','.join(timed['executors'])}"
    )
