"""What one run of a sweep holds, read back, and the cells shared by its tables and plots.

A leaf below ``experiments.aggregate`` (tables) and ``experiments.aggregate_plots`` (figures),
so that neither imports the other's module for these.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.results import wilson_interval

# Fields pooled over in the grouped summary, not conditions: replicates (seeds) and shards of
# the task list (a sweep over env.tasks that splits one evaluation across processes).
REPLICATE_FIELDS: tuple[str, ...] = ("seed", "runtime.seed", "env.tasks")
# The latency breakdown an inference is split into (ms), in stacking order.
BREAKDOWN_FIELDS: tuple[str, ...] = ("edge_ms", "uplink_ms", "cloud_ms", "downlink_ms", "queue_ms")


@dataclass
class Run:
    """One run directory, read: flattened config, episodes, results.json."""

    path: Path
    config: dict[str, Any]
    episodes: list[dict[str, Any]]
    results: dict[str, Any]
    overrides: list[str] = field(default_factory=list)


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
