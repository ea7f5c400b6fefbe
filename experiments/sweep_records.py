"""What one run of a sweep holds, read back, and the cells shared by its tables and plots.

A leaf below the sweep report's modules (``experiments.aggregate`` and its ``aggregate_rows``,
``aggregate_report`` and ``aggregate_plots``; ``sweep_dirs`` reads a ``Run`` from disk), so that
none imports another's module for these: run labels (what a legend, a bar or a table row is
called) and human names of partition cuts live here so tables and figures say the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.results import wilson_interval

# Fields pooled over in the grouped summary, not conditions: replicates (seeds) and shards of
# the task list (a sweep over env.tasks that splits one evaluation across processes).
REPLICATE_FIELDS: tuple[str, ...] = ("seed", "runtime.seed", "env.tasks")
# Overrides that replicate or split one condition (seeds, task shards): left out of a condition's
# label so that its replicates share one name.
REPLICATE_OVERRIDES: tuple[str, ...] = (*REPLICATE_FIELDS, "eval.shard", "eval.num_shards")
# The latency breakdown an inference is split into (ms), in stacking order.
BREAKDOWN_FIELDS: tuple[str, ...] = ("edge_ms", "uplink_ms", "cloud_ms", "downlink_ms", "queue_ms")


@dataclass
class Run:
    """One run directory, read: flattened config, episodes, results.json, Hydra's record.

    ``overrides`` is ``.hydra/overrides.yaml`` (the command line's task overrides, in order);
    ``choices`` is ``hydra.runtime.choices`` from ``.hydra/hydra.yaml`` (config group -> the option
    it resolved to, defaults included). ``hydra`` says whether the run had a ``.hydra`` record at
    all: runs without one are labelled by their differing config leaves instead.
    """

    path: Path
    config: dict[str, Any]
    episodes: list[dict[str, Any]]
    results: dict[str, Any]
    overrides: list[str] = field(default_factory=list)
    choices: dict[str, str] = field(default_factory=dict)
    hydra: bool = False


def display_value(field: str, value: Any) -> Any:
    """A config value for tables: ``pkg.mod.ClassName`` -> ``ClassName`` for ``_target_`` fields."""
    if field.endswith("_target_") and isinstance(value, str):
        return value.rsplit(".", 1)[-1]
    return value


def success_block(episodes: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Episodes, successes, rate and Wilson 95% interval recomputed from episode rows."""
    rows = list(episodes)
    n = len(rows)
    k = sum(1 for e in rows if e.get("success"))
    lo, hi = wilson_interval(k, n)
    return {
        "episodes": n,
        "successes": k,
        "success_rate": k / n if n else math.nan,
        "success_ci95_lo": lo,
        "success_ci95_hi": hi,
    }


def _override_pair(override: str) -> tuple[str, str]:
    """``"+a.b=1"`` -> ``("a.b", "1")``; ``"~a"`` (a deletion) -> ``("a", "~")``."""
    text = override.strip()
    if text.startswith("~"):
        key, _, value = text[1:].partition("=")
        return key, f"~{value}" if value else "~"
    key, _, value = text.lstrip("+").partition("=")
    return key, value


def _text(value: Any) -> str:
    """A value as a label shows it: Hydra's spelling for null/bools, lists compact."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return str(value)


def _excluded(key: str, exclude: Sequence[str]) -> bool:
    """``key`` is one of ``exclude`` or below one (``network.link.up_mbps``: below ``network``)."""
    base = key.split("@", 1)[0]  # hardware@hardware.edge: the group is hardware
    return any(k == e or k.startswith(f"{e}.") or k.startswith(f"{e}/") for e in exclude
               for k in (key, base))  # fmt: skip


def _override_values(run: Run) -> dict[str, str]:
    """The run's overrides as ``{key: value}``; a config group's value is the option Hydra chose."""
    out = dict(_override_pair(o) for o in run.overrides)
    for key in out:
        if key in run.choices and run.choices[key] is not None:
            out[key] = str(run.choices[key])
    return out


def _hydra_labels(runs: Sequence[Run], exclude: Sequence[str]) -> list[list[str]]:
    """Per run, ``group=option`` / ``key=value`` for each override whose value differs across runs.

    A key overridden in only some runs takes, in the others, the option Hydra chose for it (a
    config group) or the config value (a leaf); where neither exists the part is left out of that
    run's label rather than shown as a placeholder.
    """
    values = [_override_values(r) for r in runs]
    keys = list(dict.fromkeys(k for v in values for k in v))

    def value_of(i: int, key: str) -> str | None:
        if key in values[i]:
            return values[i][key]
        run = runs[i]
        if run.choices.get(key) is not None:
            return str(run.choices[key])
        if key in run.config:
            return _text(display_value(key, run.config[key]))
        return None

    table = {k: [value_of(i, k) for i in range(len(runs))] for k in keys}
    varied = [k for k in keys if len(set(table[k])) > 1 and not _excluded(k, exclude)]
    return [[f"{k}={table[k][i]}" for k in varied if table[k][i] is not None]
            for i in range(len(runs))]  # fmt: skip


def _leaf_labels(
    runs: Sequence[Run], fields: Sequence[str], exclude: Sequence[str]
) -> list[list[str]]:
    """Per run, ``field=value`` for the differing config leaves (runs without a ``.hydra`` record).

    A group whose ``name`` or ``_target_`` is among the fields is named by that one leaf
    (``scheduler=RapidTrigger``), not by each of its parameters; a leaf the run lacks is left out.
    """
    fields = [f for f in fields if not _excluded(f, exclude)]
    naming = [f for f in fields if f.endswith((".name", "._target_"))]
    groups = {f.rsplit(".", 1)[0] for f in naming}
    kept = []
    for f in fields:
        under = [g for g in groups if f.startswith(f"{g}.")]
        if under and f not in naming:
            continue  # implied by the group's name
        if f in naming and f.endswith("._target_") and f"{f.rsplit('.', 1)[0]}.name" in naming:
            continue  # the group's name already says it
        kept.append(f)

    def short(f: str) -> str:
        if f.endswith(("._target_", ".name")) and f.count(".") >= 1:
            return f.rsplit(".", 1)[0]
        return f

    return [
        [
            f"{short(f)}={_text(display_value(f, r.config[f]))}"
            for f in kept
            if r.config.get(f) is not None
        ]
        for r in runs
    ]


def run_labels(
    runs: Sequence[Run],
    fields: Sequence[str],
    exclude: Sequence[str] = (),
    fallback: str | None = None,
) -> list[str]:
    """One short label per run (aligned with ``runs``): what differs between it and the others.

    Runs with a ``.hydra`` record are named by the overrides that differ across them, in
    ``group=option`` form (``scheduler=rapid, network=lte``); the others by the differing config
    leaves among ``fields``. ``exclude`` drops keys (and everything below them) that a plot already
    shows on an axis, e.g. ``network`` against bandwidth, or replicates (seeds). A run nothing
    distinguishes is called ``fallback``, or by its directory name when that is None.
    """
    with_hydra = [i for i, r in enumerate(runs) if r.hydra]
    without = [i for i, r in enumerate(runs) if not r.hydra]
    parts: dict[int, list[str]] = {}
    if with_hydra:
        for i, p in zip(with_hydra, _hydra_labels([runs[i] for i in with_hydra], exclude)):
            parts[i] = p
    if without:
        for i, p in zip(without, _leaf_labels([runs[i] for i in without], fields, exclude)):
            parts[i] = p
    return [
        ", ".join(parts[i]) or (fallback if fallback is not None else runs[i].path.name)
        for i in range(len(runs))
    ]


def _is_head(unit: str) -> bool:
    # the last unit of every traced model is its output head (ecc/trace_analytic.py: the LLM's
    # ``llm.head`` for token decoding, ``head`` for an action head): edge up to it = all on edge
    return unit == "head" or unit.endswith(".head")


def cut_description(cut: str, direction: str = "edge_prefix") -> str:
    """A partition cut as a reader says it (``after:llm.layer3`` -> ``edge runs up to llm.layer3``).

    Cut names come from ``ecc.trace_types.ExecutionTrace.cut_name`` (``start``: before the first
    unit; ``after:<unit>``: after ``<unit>``) and from the planners' labels (``edge_only``,
    ``cloud_only``, ``mincut``). ``direction`` is the run's ``partition.direction``: under
    ``edge_prefix`` the units before the cut run on the edge, under ``cloud_prefix`` on the cloud.
    Anything else is shown as it is.
    """
    first, second = ("edge", "cloud") if direction != "cloud_prefix" else ("cloud", "edge")
    if cut == "cloud_only":
        return "all on cloud"
    if cut == "edge_only":
        return "all on edge"
    if cut == "mincut":
        return "min-cut split (edge and cloud interleave)"
    if cut == "start":
        return f"all on {second} (cut before vision)"
    if cut.startswith("after:"):
        unit = cut.removeprefix("after:")
        return f"all on {first}" if _is_head(unit) else f"{first} runs up to {unit}"
    return cut
