"""The rows of a sweep's tables: which config fields it varied, one tidy row per run, pooled rows.

Every number is recomputed from the run directory alone: success and its Wilson 95% interval from ``episodes.jsonl``, latency means step-weighted over the
per-episode means, ``<field>_p95`` from ``results.json``, cloud calls per episode from
``extra.timeline.cloud_ms``, precision shares pooled over episodes. ``group_rows`` pools the runs
of one condition over seeds and task shards (``sweep_records.REPLICATE_FIELDS``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.sweep_records import (
    BREAKDOWN_FIELDS,
    REPLICATE_FIELDS,
    Run,
    display_value,
    success_block,
)

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
