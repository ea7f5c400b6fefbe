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
"""

from __future__ import annotations

import json
import logging
import math
import os
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
    REPLICATE_OVERRIDES,
    Run,
    cut_description,
    display_value,
    run_labels,
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


def _hydra_record(run_dir: Path) -> tuple[bool, list[str], dict[str, str]]:
    """(has a ``.hydra`` dir, its task overrides, ``hydra.runtime.choices``) of one run."""
    hydra_dir = run_dir / ".hydra"
    overrides_path = hydra_dir / "overrides.yaml"
    hydra_path = hydra_dir / "hydra.yaml"
    try:
        overrides = (
            [str(x) for x in OmegaConf.load(overrides_path)] if overrides_path.is_file() else []
        )
        choices: dict[str, str] = {}
        if hydra_path.is_file():
            node = OmegaConf.to_container(OmegaConf.load(hydra_path), resolve=False)
            raw = node.get("hydra", {}).get("runtime", {}).get("choices", {}) or {}
            # hydra/* are Hydra's own groups (launcher, sweeper): never the experiment
            choices = {
                str(k): str(v)
                for k, v in raw.items()
                if v is not None and not k.startswith("hydra/")
            }
    except (OSError, ValueError) as e:
        raise AggregateError(f"cannot read the Hydra record {hydra_dir}: {e}") from e
    return (
        hydra_dir.is_dir() and (overrides_path.is_file() or hydra_path.is_file()),
        overrides,
        choices,
    )


def load_run(run_dir: Path) -> Run:
    """Read one run directory (config.yaml, episodes.jsonl, results.json, Hydra's record)."""
    try:
        config = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=False)
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError) as e:
        raise AggregateError(f"cannot read run directory {run_dir}: {e}") from e
    episodes_path = run_dir / "episodes.jsonl"
    episodes = list(read_episodes(episodes_path)) if episodes_path.is_file() else []
    has_hydra, overrides, choices = _hydra_record(run_dir)
    return Run(run_dir, flatten(config), episodes, results, overrides, choices, has_hydra)


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


def run_row(run: Run, fields: Sequence[str], root: Path, label: str = "") -> dict[str, Any]:
    """One tidy row: label, config fields, success with CI, latency, calls, precision, provenance."""
    row: dict[str, Any] = {"run_dir": str(run.path.relative_to(root)) if run.path != root else "."}
    row["label"] = label or run.path.name
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


def group_rows(
    runs: Sequence[Run], fields: Sequence[str], labels: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Runs pooled over replicate fields (seeds): episodes pooled, Wilson recomputed, means weighted.

    ``labels`` (aligned with ``runs``, replicates excluded) names each group: runs pool only when
    both their label and their non-replicate fields agree. Each row starts with ``label``.
    """
    cond = [f for f in fields if f not in REPLICATE_FIELDS]
    names = list(labels) if labels is not None else [r.path.name for r in runs]
    groups: dict[tuple[str, ...], list[Run]] = {}
    group_label: dict[tuple[str, ...], str] = {}
    for r, name in zip(runs, names):
        key = (name, *(json.dumps(display_value(f, r.config.get(f)), default=str) for f in cond))
        groups.setdefault(key, []).append(r)
        group_label[key] = name
    # two groups one label cannot tell apart (a field differs that no override names): number them
    seen: dict[str, int] = {}
    for key in groups:
        seen[group_label[key]] = seen.get(group_label[key], 0) + 1
    counter: dict[str, int] = {}
    out = []
    for key, members in groups.items():
        name = group_label[key]
        if seen[name] > 1:
            counter[name] = counter.get(name, 0) + 1
            name = f"{name} #{counter[name]}"
        eps = [e for r in members for e in r.episodes]
        row: dict[str, Any] = {"label": name}
        row.update({f: json.loads(v) for f, v in zip(cond, key[1:])})
        row["runs"] = len(members)
        row.update(success_block(eps))
        means = pooled_latency_means(eps)
        for lat in ("inference_ms", *BREAKDOWN_FIELDS):
            if lat in means:
                row[f"{lat}_mean"] = means[lat]
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
