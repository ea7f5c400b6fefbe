"""Collect the run directories of a sweep into a tidy table, a grouped summary and the standard plots.

    vecc-tool tool=aggregate root=multirun/2026-11-26/21-10-00 [out=DIR]
    python -m experiments.tool tool=aggregate root=outputs   # every run below outputs/

Fields: conf/tool/aggregate.yaml (old positional ROOT -> root=ROOT, --no-plots -> no_plots=true).

A run directory is any folder holding both ``results.json`` and ``config.yaml`` (what the main job
writes). Every number is recomputed from the run directory alone:

- success, successes, Wilson 95% interval: from ``episodes.jsonl`` (one row per episode);
- latency ``<field>_mean`` (ms): the step-weighted mean of the per-episode means in ``episodes.jsonl``;
  ``<field>_p95`` (ms): from ``results.json`` (the main job computes it from the raw per-step values,
  which ``episodes.jsonl`` does not keep);
- cloud calls per episode: inferences with cloud compute > 0 (``extra.timeline.cloud_ms``);
- precision histogram: share of controller decisions per activation bit width, pooled over episodes.

Writes into ``out`` (default ``<root>/aggregate``): ``runs.csv`` (one row per run; ``runs.parquet``
as well when pyarrow is importable), ``summary.md`` / ``summary.csv`` (runs pooled over seeds, per
combination of the other swept fields), ``aggregate.json`` (provenance, run list, labels), PNG plots
(``experiments.aggregate_plots``) where the data exists, and ``report.md``: the summary and run
tables, the plots embedded by relative link, the partition cuts explained and the skipped runs.

Runs are named by ``sweep_records.run_labels``: the Hydra overrides that differ across runs
(``.hydra/overrides.yaml``, groups resolved through ``hydra.runtime.choices``), as
``scheduler=rapid, network=lte``; the differing config leaves for runs without a ``.hydra`` record.
The label is a column of both CSVs (beside the per-leaf columns) and the row name in the markdown.
Runs whose ``results.json`` says ``"status": "failed"`` are left out of every number and listed.

This module runs the command; the pieces live below it: ``sweep_dirs`` (finding and reading the
run directories), ``aggregate_rows`` (swept fields, per-run and pooled rows), ``aggregate_report``
(the markdown), ``aggregate_plots`` (the figures) and ``sweep_records`` (the run record, labels).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.jsonio import write_atomic
from core.provenance import provenance
from experiments.aggregate_plots import draw_all
from experiments.aggregate_report import markdown_table, write_report
from experiments.aggregate_rows import (
    KEY_FIELDS,
    group_rows,
    pooled_latency_means,
    precision_shares,
    run_row,
    swept_fields,
)
from experiments.apps import as_args
from experiments.sweep_dirs import AggregateError, find_run_dirs, flatten, load_run
from experiments.sweep_records import REPLICATE_OVERRIDES, display_value, run_labels, success_block
from experiments.tables import columns_of, write_csv

# Names other modules and the tests import from here, from before the pieces moved out.
__all__ = [
    "KEY_FIELDS",
    "AggregateError",
    "aggregate",
    "display_value",
    "find_run_dirs",
    "flatten",
    "group_rows",
    "load_run",
    "markdown_table",
    "pooled_latency_means",
    "precision_shares",
    "run",
    "run_row",
    "success_block",
    "swept_fields",
    "write_parquet",
    "write_report",
]

log = logging.getLogger(__name__)


def write_parquet(path: Path, rows: Sequence[dict[str, Any]]) -> Path | None:
    """Rows as parquet when pyarrow is importable (not a dependency); None otherwise."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        log.info("pyarrow not installed: runs.parquet skipped (runs.csv has the same table)")
        return None
    cols = columns_of(rows)
    table = pa.table({c: [r.get(c) for r in rows] for c in cols})
    pq.write_table(table, path)
    return path


def aggregate(
    root: str | Path, out: str | Path | None = None, plots: bool = True
) -> dict[str, Any]:
    """Read every run below ``root``; write the tables, plots and ``report.md`` into ``out``."""
    root = Path(root).resolve()
    found = find_run_dirs(root)
    if not found:
        raise AggregateError(f"no run directories (results.json + config.yaml) below {root}")
    loaded = [load_run(d) for d in found]
    # A run that did not finish says so (status "failed"); it is listed, never counted.
    failed = [r for r in loaded if r.results.get("status") == "failed"]
    runs = [r for r in loaded if r.results.get("status") != "failed"]
    for r in failed:
        log.warning("skipping failed run %s: %s", r.path, r.results.get("error"))
    if not runs:
        raise AggregateError(
            f"no finished runs below {root}: {len(failed)} failed "
            f"({', '.join(str(r.path) for r in failed)})"
        )
    dirs = [r.path for r in runs]
    swept = swept_fields(runs)
    present = {k for r in runs for k in r.config}
    fields = [k for k in KEY_FIELDS if k in present] + [k for k in swept if k not in KEY_FIELDS]
    labels = run_labels(runs, swept)
    # a condition is what remains once seeds and shards are set aside: its runs pool
    conditions = run_labels(runs, swept, exclude=REPLICATE_OVERRIDES, fallback="all runs")
    rows = [run_row(r, fields, root, label) for r, label in zip(runs, labels)]
    summary = group_rows(runs, [f for f in swept if f in fields] or [], conditions)
    out_dir = Path(out) if out is not None else root / "aggregate"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [write_csv(out_dir / "runs.csv", rows), write_csv(out_dir / "summary.csv", summary)]
    parquet = write_parquet(out_dir / "runs.parquet", rows)
    if parquet is not None:
        written.append(parquet)
    notes = [
        (
            f"{len(runs)} run(s) below `{root}`; {len(swept)} config field(s) differ between "
            "them (columns of summary.csv and runs.csv, listed in aggregate.json)."
        ),
        (
            "Success and Wilson 95% intervals recomputed from episodes.jsonl, pooled over seeds; "
            "latency means (ms) pooled over all steps."
        ),
    ]
    if failed:
        notes.append(
            f"Skipped {len(failed)} failed run(s): "
            + "; ".join(f"`{r.path.name}` ({r.results.get('error')})" for r in failed)
        )
    md = out_dir / "summary.md"
    md.write_text(
        markdown_table(summary, f"Sweep summary: {root.name}", notes, drop=fields, name="condition")
    )
    written.append(md)
    figures = draw_all(runs, rows, swept, out_dir) if plots else []
    written += figures
    written.append(
        write_report(out_dir / "report.md", root, summary, rows, runs, failed, figures, fields)
    )
    record = {
        "root": str(root),
        "runs": [str(d) for d in dirs],
        "labels": dict(zip((str(d) for d in dirs), labels)),
        "failed_runs": [{"run": str(r.path), "error": r.results.get("error")} for r in failed],
        "swept_fields": swept,
        "files": [str(p) for p in written],
        "provenance": provenance(),
    }
    write_atomic(out_dir / "aggregate.json", record)
    return {
        "rows": rows,
        "summary": summary,
        "swept": swept,
        "out": out_dir,
        "files": written,
        "failed": [r.path for r in failed],
    }


def run(cfg: Any) -> dict[str, Any]:
    """The tool app's entry (conf/tool/aggregate.yaml): aggregate ``root`` into ``out``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    a = as_args(cfg, paths=("root", "out"))
    try:
        result = aggregate(a.root, a.out, plots=not a.no_plots)
    except AggregateError as e:
        raise SystemExit(f"aggregate: {e}") from e
    print((result["out"] / "summary.md").read_text())
    print("wrote " + ", ".join(str(p) for p in result["files"]))
    return result


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("tool", "aggregate")
