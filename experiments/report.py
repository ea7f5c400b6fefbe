"""Terminal tables for run summaries."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table

from ecc.runtime.records import STEP_FIELDS
from experiments.sweep_records import cut_description


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _seconds(x: float | None) -> str:
    return "n/a (no success)" if x is None or math.isnan(x) else f"{x:.2f} s"


def print_summary(
    summary: dict[str, Any],
    title: str = "results",
    console: Console | None = None,
    deployment: dict[str, Any] | None = None,
) -> None:
    """Per-task success with Wilson 95% intervals, what the run did (``deployment``: the
    results.json block), then latency statistics per control step and per inference (ms)."""
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
    for line in run_story(summary, deployment or {}):
        console.print(line, highlight=False)
    timed = summary.get("time_aware")
    # The two-budget line only says something once a run uses the time-aware budget or executor.
    if timed and (timed["budget"] != "world_steps" or timed["executors"] != ["scheduler"]):
        console.print(time_aware_line(timed), highlight=False)
    lat = summary.get("step_latency_ms", {})
    per_step = {k: v for k, v in lat.items() if k in STEP_FIELDS}
    order = ("inference_ms", "edge_ms", "uplink_ms", "cloud_ms", "downlink_ms", "network_ms")
    names = [k for k in order if k in lat] + sorted(k for k in lat if k not in order)
    per_inference = {k: lat[k] for k in names if k not in STEP_FIELDS}
    if per_step:
        console.print(
            _latency_table("per control step (ms, wall time of this machine)", per_step, "steps")
        )
    if per_inference:
        table = _latency_table("per inference (ms)", per_inference, "inferences")
        table.caption = (
            "inference_ms: the latency the world sees (edge + uplink + cloud + downlink); "
            "policy_compute_ms: the tiny policy's own wall time here"
        )
        console.print(table)


def _latency_table(title: str, rows: dict[str, Any], count_col: str) -> Table:
    table = Table(title=title)
    for col in ("field", "mean", "p50", "p95", "max", count_col):
        table.add_column(col, justify="left" if col == "field" else "right")
    for name, s in rows.items():
        table.add_row(
            name,
            f"{s['mean']:.2f}",
            f"{s['p50']:.2f}",
            f"{s['p95']:.2f}",
            f"{s['max']:.2f}",
            str(s["n"]),
        )
    return table


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB" if nbytes >= 100_000 else f"{nbytes / 1e3:.1f} kB"


def run_story(summary: dict[str, Any], deployment: dict[str, Any]) -> list[str]:
    """What the run did, in plain lines: latency source, where inferences ran, the link, world time.

    A remote policy (``deployment.acts_through``) gets one line: its server and measured round
    trip. Empty when the run had no inference runtime (``runtime=none``).
    """
    facts = summary.get("inference") or {}
    remote = (summary.get("step_latency_ms") or {}).get("infer_ms")
    if deployment.get("acts_through") and remote:
        line = (
            f"where inferences ran: {remote['n']} inferences on {deployment['acts_through']}; "
            f"round trip mean {remote['mean']:.1f} ms (p95 {remote['p95']:.1f}), this machine's "
            "wall time; the world waited for each (no latency model in between)"
        )
        return [line]
    if not facts:
        return []
    lines = []
    source = str(deployment.get("latency_source", ""))
    if source.startswith("model:"):
        arch, _, hw = source.removeprefix("model:").partition("@")
        lines.append(
            f"latency: modeled for {arch} on {hw.replace('+', ' (edge) + ')} (cloud), "
            f"not this machine's wall time; the acting policy is the tiny checkpoint"
        )
    elif source:
        lines.append(f"latency: {source}")
    n = int(facts["count"])
    where = f"where inferences ran: {n} inferences"
    if "cloud_fraction" in facts:
        cloud = round(facts["cloud_fraction"] * n)
        where += f", {cloud} used the cloud, {n - cloud} ran on the edge alone"
    fallbacks = round(facts.get("fallback_fraction", 0.0) * n)
    if fallbacks:
        where += f" ({fallbacks} after giving up on a slow link)"
    if facts.get("cuts"):
        top = ", ".join(f"{cut_description(c)}: {k}" for c, k in list(facts["cuts"].items())[:3])
        where += f"; cuts {top}"
    lines.append(where)
    link = (deployment.get("network") or {}).get("link") or {}
    mbps = facts.get("uplink_mbps")
    if link or mbps:
        text = f"link: {link.get('name', '?')}"
        if mbps:
            text += (
                f", uplink at request time mean {mbps['mean']:.1f} Mbit/s "
                f"(p50 {mbps['p50']:.1f}, max {mbps['max']:.1f})"
            )
        text += f"; {_mb(facts.get('bytes_up', 0))} up, {_mb(facts.get('bytes_down', 0))} down"
        if facts.get("round_trips_total"):
            text += f", {facts['round_trips_total']} round trips"
        lines.append(text)
    mode = deployment.get("world_time_mode")
    timed = summary.get("time_aware") or {}
    if mode == "blocking":
        lat = summary.get("step_latency_ms", {}).get("inference_ms")
        waited = f" ({lat['mean'] * lat['n'] / 1e3:.1f} s of inference in all)" if lat else ""
        lines.append(
            f"world time: blocking, the world waited for every inference{waited}; "
            "runtime.mode=realtime lets it move meanwhile (the robot holds when no action is ready)"
        )
    elif mode == "realtime" and timed:
        lines.append(
            f"world time: realtime, the robot held still on {_pct(timed['mean_hold_fraction'])}% "
            "of steps waiting for actions; runtime.mode=blocking makes the world wait instead"
        )
    return lines


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
        + f" | time to success {_seconds(timed['mean_time_to_success_s'])}"
        + f" | hold {_pct(timed['mean_hold_fraction'])}% | executor {','.join(timed['executors'])}"
    )
