"""The markdown a sweep report writes: ``summary.md``'s table and ``report.md``.

``report.md`` holds the summary table (conditions as rows, seeds pooled), the run table, the
partition cuts the runs used explained in words (``sweep_records.cut_description``), the plots of
``experiments.aggregate_plots`` embedded by relative link with a caption each, and the skipped
(failed) runs. Success is shown as % with its Wilson 95% interval in one column.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.sweep_records import Run, cut_description
from experiments.tables import markdown_table as grid_markdown


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def _success_cell(row: dict[str, Any]) -> str:
    return (
        f"{100 * row['success_rate']:.1f} [{100 * row['success_ci95_lo']:.1f}, "
        f"{100 * row['success_ci95_hi']:.1f}]"
    )


def markdown_table(
    rows: Sequence[dict[str, Any]],
    title: str,
    notes: Sequence[str] = (),
    drop: Sequence[str] = (),
    name: str = "label",
) -> str:
    """A GitHub markdown table; success as % with its Wilson interval in one column.

    ``drop`` lists columns left out (the per-leaf config columns, which the label already
    summarises and ``summary.csv`` keeps); the ``label`` column, first, is headed ``name``.
    """
    return "\n".join([f"# {title}", "", _table(rows, drop, name), "", *notes]) + "\n"


def _header(column: str) -> str:
    """A column name as a table heads it: ``edge_ms_mean`` -> ``edge ms (mean)``."""
    if column.endswith("_ms_mean"):
        return f"{column.removesuffix('_ms_mean')} ms (mean)"
    if column.startswith("precision_share_a"):
        return f"share A{column.removeprefix('precision_share_a')}"
    return {"cloud_calls_per_ep": "cloud calls / ep", "run_dir": "run dir"}.get(column, column)


def _table(rows: Sequence[dict[str, Any]], drop: Sequence[str] = (), name: str = "label") -> str:
    shown = []
    for r in rows:
        cells: dict[str, Any] = {}
        for k, v in r.items():
            if k in drop or k in ("success_ci95_lo", "success_ci95_hi"):
                continue
            if k == "label":
                cells[name] = v
            elif k == "success_rate":
                cells["success % [95% CI]"] = _success_cell(r)
            else:
                cells[_header(k)] = v
        shown.append(cells)
    return grid_markdown(shown, cell=_fmt)


# Plots the report embeds, in order, with what each shows.
PLOT_CAPTIONS: dict[str, str] = {
    "success_vs_bandwidth.png": (
        "Success (%, Wilson 95% bars) against uplink bandwidth (Mbit/s, log); one line per "
        "condition other than the network, seeds pooled; lines nudged sideways so that equal "
        "results stay visible."
    ),
    "latency_breakdown.png": (
        "Mean latency per inference (ms), split into its components; one bar per run."
    ),
    "precision_timeline.png": "Activation bits chosen per executed action, first episodes.",
    "cut_vs_bandwidth.png": (
        "Where the model was split at each inference (upper axes) and the uplink bandwidth then "
        "(lower axes, Mbit/s), over world time (s); first episode of each run."
    ),
}


def _cuts_seen(runs: Sequence[Run]) -> list[tuple[str, str]]:
    """(cut name, partition direction) pairs recorded by the runs, in order of first use."""
    return list(
        dict.fromkeys(
            (str(c), str(r.config.get("partition.direction") or "edge_prefix"))
            for r in runs
            for e in r.episodes
            for c in e.get("extra", {}).get("timeline", {}).get("cut", [])
            if c is not None
        )
    )


def write_report(
    path: Path,
    root: Path,
    summary: Sequence[dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    runs: Sequence[Run],
    failed: Sequence[Run],
    plots: Sequence[Path],
    fields: Sequence[str],
) -> Path:
    """``report.md``: summary table (conditions as rows), runs, embedded plots, skipped runs.

    Images are linked relative to ``path`` so the report moves with its folder.
    """
    run_cols = ("run_dir", "episodes", "successes", "success_rate", "success_ci95_lo",
                "success_ci95_hi", "inference_ms_mean",
                "cloud_calls_per_ep")  # fmt: skip
    run_rows = [{k: r[k] for k in ("label", *run_cols) if k in r} for r in rows]
    lines = [
        f"# Sweep report: {root.name}",
        "",
        f"{len(runs)} finished run(s) below `{root}`"
        + (f", {len(failed)} failed (listed at the end)." if failed else "."),
        "",
        (
            "Runs are named by the Hydra overrides that differ between them (the config leaves "
            "that differ, for runs without a `.hydra` record). Success and its Wilson 95% "
            "interval are recomputed from `episodes.jsonl`; latency means (ms) pool all steps."
        ),
        "",
        "## Summary (seeds pooled)",
        "",
        _table(summary, drop=fields, name="condition"),
        "",
        "## Runs",
        "",
        _table(run_rows, name="run"),
        "",
    ]
    cuts = _cuts_seen(runs)
    if cuts:
        directions = {d for _, d in cuts}
        lines += ["## Cuts", "", "Where the model was split between edge and cloud:", ""]
        lines += [
            f"- `{c}`" + (f" ({d})" if len(directions) > 1 else "") + f": {cut_description(c, d)}"
            for c, d in cuts
        ]
        lines.append("")
    if plots:
        lines += ["## Plots", ""]
        for p in plots:
            rel = os.path.relpath(p, path.parent)
            caption = PLOT_CAPTIONS.get(p.name, p.stem.replace("_", " "))
            lines += [f"### {p.stem.replace('_', ' ')}", "", caption, "", f"![{p.stem}]({rel})", ""]
    lines += ["## Skipped runs", ""]
    if failed:
        for r in failed:
            rel = os.path.relpath(r.path, root) if r.path != root else "."
            lines.append(f"- `{rel}`: {r.results.get('error') or 'failed (no error recorded)'}")
    else:
        lines.append("None: every run below the root finished.")
    path.write_text("\n".join(lines) + "\n")
    return path
