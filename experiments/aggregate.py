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

Writes into ``--out`` (default ``<root>/aggregate``): ``runs.csv`` (one row per run; ``runs.parquet``
as well when pyarrow is importable), ``summary.md`` / ``summary.csv`` (runs pooled over seeds, per
combination of the other swept fields), ``aggregate.json`` (provenance, run list) and PNG plots
(``experiments.aggregate_plots``) where the data exists.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from core.errors import VeccError
from core.jsonio import write_atomic
from core.provenance import provenance
from experiments.aggregate_plots import draw_all
from experiments.apps import as_args
from experiments.results import read_episodes
from experiments.sweep_records import (
    BREAKDOWN_FIELDS,
    REPLICATE_FIELDS,
    Run,
    display_value,
    success_block,
)
from experiments.tables import columns_of, write_csv
from experiments.tables import markdown_table as grid_markdown

log = logging.getLogger(__name__)

# Config fields every row carries (when the run's config has them), whether swept or not.
KEY_FIELDS: tuple[str, ...] = (
    "env.suite",
    "env.perturbation",
    "policy.shape",
    "policy._target_",
    "policy.checkpoint",
    "quantization.name",
    "scheduler._target_",
    "partition.planner._target_",
    "network.link.name",
    "network.link.up_mbps",
    "network.trace._target_",
    "hardware.edge.name",
    "hardware.cloud.name",
    "runtime.kind",
    "runtime.mode",
    "runtime.latency",
    "runtime.architecture",
    "seed",
)
# Subtrees never treated as swept fields (bookkeeping, not the experiment).
IGNORED_PREFIXES: tuple[str, ...] = ("logger.", "eval.progress", "eval.video")


class AggregateError(VeccError, RuntimeError):
    """A run directory that cannot be read, or a root holding none."""


def find_run_dirs(root: str | Path) -> list[Path]:
    """Every directory at or below ``root`` holding ``results.json`` and ``config.yaml``, sorted."""
    root = Path(root)
    if not root.exists():
        raise AggregateError(f"no such directory: {root}")
    return sorted(
        p.parent for p in root.rglob("results.json") if (p.parent / "config.yaml").is_file()
    )


def flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> ``{"a.b.c": leaf}``; lists and empty dicts stay leaves."""
    out: dict[str, Any] = {}
    for k, v in node.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def load_run(run_dir: Path) -> Run:
    """Read one run directory (config.yaml, episodes.jsonl, results.json, Hydra overrides)."""
    try:
        config = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=False)
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError) as e:
        raise AggregateError(f"cannot read run directory {run_dir}: {e}") from e
    episodes_path = run_dir / "episodes.jsonl"
    episodes = list(read_episodes(episodes_path)) if episodes_path.is_file() else []
    overrides_path = run_dir / ".hydra" / "overrides.yaml"
    overrides = [str(x) for x in OmegaConf.load(overrides_path)] if overrides_path.is_file() else []
    return Run(run_dir, flatten(config), episodes, results, overrides)


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def swept_fields(runs: Sequence[Run]) -> list[str]:
    """Config fields the sweep varied, without the ones a varied preset name already implies.

    A field is swept when the runs that have it disagree on it, or when only some runs have it and
    no varied ``.name`` above it explains that (``quantization=dyq,qvla`` gives the runs different
    subtrees: ``quantization.name`` says it, its ``dyq.*`` fields are not listed unless the dyq
    runs themselves differ in them). Fields right under a varied ``name`` (``network.link.*`` when
    ``network.link.name`` varies) are dropped too, except the KEY_FIELDS.
    """
    keys = sorted({k for r in runs for k in r.config if not k.startswith(IGNORED_PREFIXES)})

    def varies(k: str) -> bool:
        present = {
            json.dumps(r.config[k], sort_keys=True, default=str) for r in runs if k in r.config
        }
        return len(present) > 1

    named = {k.removesuffix(".name") for k in keys if k.endswith(".name") and varies(k)}
    out = []
    for k in keys:
        partial = any(k not in r.config for r in runs)
        implied = any(k.startswith(f"{n}.") for n in named)
        if varies(k) or (partial and not implied):
            out.append(k)
    return [
        k for k in out if k in KEY_FIELDS or k.endswith(".name") or k.rsplit(".", 1)[0] not in named
    ]


def pooled_latency_means(episodes: Sequence[dict[str, Any]]) -> dict[str, float]:
    """``{field: mean (ms)}`` over all steps of all episodes (per-episode means weighted by n)."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for e in episodes:
        for name, stats in e.get("step_latency_ms", {}).items():
            n = int(stats.get("n", 0))
            if n and stats.get("mean") is not None and not math.isnan(stats["mean"]):
                sums[name] = sums.get(name, 0.0) + stats["mean"] * n
                counts[name] = counts.get(name, 0) + n
    return {name: sums[name] / counts[name] for name in sorted(sums)}


def precision_shares(episodes: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Share of decisions per activation bit width, pooled over episodes.

    Episodes are weighted by their number of decisions (``timeline.act_bits``) where recorded,
    equally otherwise. Empty when no episode has a precision histogram.
    """
    total: dict[str, float] = {}
    weight_sum = 0.0
    for e in episodes:
        hist = e.get("extra", {}).get("precision_histogram")
        if not hist:
            continue
        w = float(len(e["extra"].get("timeline", {}).get("act_bits", [])) or 1)
        for bits, share in hist.items():
            total[str(bits)] = total.get(str(bits), 0.0) + w * float(share)
        weight_sum += w
    if weight_sum == 0:
        return {}
    return {b: total[b] / weight_sum for b in sorted(total, key=int, reverse=True)}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def run_row(run: Run, fields: Sequence[str], root: Path) -> dict[str, Any]:
    """One tidy row: config fields, success with CI, latency, calls, precision, provenance."""
    row: dict[str, Any] = {"run_dir": str(run.path.relative_to(root)) if run.path != root else "."}
    for k in fields:
        value = run.config.get(k)
        row[k] = _cell(display_value(k, value))
    row["overrides"] = " ".join(run.overrides)
    eps = run.episodes
    row.update(success_block(eps))
    row["mean_steps"] = _mean([e["steps"] for e in eps])
    means = pooled_latency_means(eps)
    p95 = run.results.get("summary", {}).get("step_latency_ms", {})
    for name, mean in means.items():
        row[f"{name}_mean"] = mean
        row[f"{name}_p95"] = p95.get(name, {}).get("p95", math.nan)
    # not durations: per-inference link bandwidth (Mbit/s) and the share of edge fallbacks
    facts = run.results.get("summary", {}).get("inference", {})
    if "uplink_mbps" in facts:
        row["uplink_mbps_mean"] = facts["uplink_mbps"]["mean"]
        row["uplink_mbps_p95"] = facts["uplink_mbps"]["p95"]
    if "fallback_fraction" in facts:
        row["fallback_fraction"] = facts["fallback_fraction"]
    steps = sum(e["steps"] for e in eps)
    inference_total = sum(
        e["step_latency_ms"].get("inference_ms", {}).get("mean", 0.0)
        * e["step_latency_ms"].get("inference_ms", {}).get("n", 0)
        for e in eps
    )
    # Latency per control step: what the robot waits on average (RAPID's per-step figure).
    row["inference_ms_per_step"] = (
        inference_total / steps if steps and "inference_ms" in means else math.nan
    )
    extras = [e.get("extra", {}) for e in eps]
    row["inferences_per_ep"] = _mean([x["inferences"] for x in extras if "inferences" in x])
    calls = [
        sum(1 for c in x["timeline"]["cloud_ms"] if c and c > 0)
        for x in extras
        if "cloud_ms" in x.get("timeline", {})
    ]
    row["cloud_calls_per_ep"] = _mean(calls)
    row["bytes_up_per_ep"] = _mean([x["bytes_up"] for x in extras if "bytes_up" in x])
    for bits, share in precision_shares(eps).items():
        row[f"precision_share_a{bits}"] = share
    prov = run.results.get("provenance", {})
    row["git_commit"] = prov.get("git", {}).get("commit")
    row["wall_s"] = run.results.get("timing", {}).get("wall_s", math.nan)
    return row


def group_rows(runs: Sequence[Run], fields: Sequence[str]) -> list[dict[str, Any]]:
    """Runs pooled over replicate fields (seeds): episodes pooled, Wilson recomputed, means weighted."""
    cond = [f for f in fields if f not in REPLICATE_FIELDS]
    groups: dict[tuple[str, ...], list[Run]] = {}
    for r in runs:
        key = tuple(json.dumps(display_value(f, r.config.get(f)), default=str) for f in cond)
        groups.setdefault(key, []).append(r)
    out = []
    for key, members in groups.items():
        eps = [e for r in members for e in r.episodes]
        row: dict[str, Any] = {f: json.loads(v) for f, v in zip(cond, key)}
        row["runs"] = len(members)
        row.update(success_block(eps))
        means = pooled_latency_means(eps)
        for name in ("inference_ms", *BREAKDOWN_FIELDS):
            if name in means:
                row[f"{name}_mean"] = means[name]
        calls = [
            sum(1 for c in e["extra"]["timeline"]["cloud_ms"] if c and c > 0)
            for e in eps
            if "cloud_ms" in e.get("extra", {}).get("timeline", {})
        ]
        if calls:
            row["cloud_calls_per_ep"] = _mean(calls)
        for bits, share in precision_shares(eps).items():
            row[f"precision_share_a{bits}"] = share
        out.append(row)
    return out


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


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def markdown_table(rows: Sequence[dict[str, Any]], title: str, notes: Sequence[str] = ()) -> str:
    """A GitHub markdown table; success as % with its Wilson interval in one column."""
    shown = []
    for r in rows:
        r = dict(r)
        if "success_rate" in r:
            r["success % [95% CI]"] = (
                f"{100 * r.pop('success_rate'):.1f} [{100 * r.pop('success_ci95_lo'):.1f}, "
                f"{100 * r.pop('success_ci95_hi'):.1f}]"
            )
        shown.append(r)
    lines = [f"# {title}", "", grid_markdown(shown, cell=_fmt), "", *notes]
    return "\n".join(lines) + "\n"


def aggregate(
    root: str | Path, out: str | Path | None = None, plots: bool = True
) -> dict[str, Any]:
    """Read every run below ``root``; write the tables (and plots) into ``out``; return the rows."""
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
    rows = [run_row(r, fields, root) for r in runs]
    summary = group_rows(runs, [f for f in swept if f in fields] or [])
    out_dir = Path(out) if out is not None else root / "aggregate"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [write_csv(out_dir / "runs.csv", rows), write_csv(out_dir / "summary.csv", summary)]
    parquet = write_parquet(out_dir / "runs.parquet", rows)
    if parquet is not None:
        written.append(parquet)
    notes = [
        f"{len(runs)} run(s) below `{root}`; swept fields: {', '.join(swept) or 'none'}.",
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
    md.write_text(markdown_table(summary, f"Sweep summary: {root.name}", notes))
    written.append(md)
    if plots:
        written += draw_all(runs, rows, swept, out_dir)
    record = {
        "root": str(root),
        "runs": [str(d) for d in dirs],
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
