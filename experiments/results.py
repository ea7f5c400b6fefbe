"""Per-episode records, summaries with confidence intervals, and the files every run writes.

Layout of a run directory (Hydra's run dir)::

    config.yaml      resolved config
    provenance.json  versions, git commit, platform, seeds
    episodes.jsonl   one JSON object per finished episode (appended as they finish)
    results.json     summary: success rate with a 95% Wilson interval, latency statistics, provenance
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (fractions in [0, 1])."""
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(
            f"need 0 <= successes <= trials, got successes={successes}, trials={trials}"
        )
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class EpisodeRecord:
    """One finished episode. Latency fields are per control step, in ms."""

    suite: str
    task: str
    init_state: int
    seed: int
    success: bool
    steps: int
    sim_time_s: float
    wall_time_s: float
    language: str = ""
    # name -> per-step values (ms); summarised, not stored raw in episodes.jsonl
    step_latency_ms: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["step_latency_ms"] = {k: latency_stats(v) for k, v in self.step_latency_ms.items()}
        return row


def latency_stats(values: Sequence[float]) -> dict[str, float]:
    """mean / p50 / p95 / max of a list of latencies (ms); NaN when empty."""
    if len(values) == 0:
        return {"mean": math.nan, "p50": math.nan, "p95": math.nan, "max": math.nan, "n": 0}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(arr.mean()),
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "max": float(arr.max()),
        "n": int(arr.size),
    }


def _success_block(rows: Sequence[EpisodeRecord]) -> dict[str, Any]:
    n = len(rows)
    k = sum(1 for r in rows if r.success)
    lo, hi = wilson_interval(k, n)
    return {
        "episodes": n,
        "successes": k,
        "success_rate": k / n if n else math.nan,
        "success_ci95": [lo, hi],
        "mean_steps": float(np.mean([r.steps for r in rows])) if n else math.nan,
    }


def summarize(records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """Overall and per-task success with Wilson intervals; latency stats pooled over all steps."""
    summary = _success_block(records)
    by_task: dict[str, list[EpisodeRecord]] = {}
    for r in records:
        by_task.setdefault(f"{r.suite}/{r.task}", []).append(r)
    summary["per_task"] = {name: _success_block(rows) for name, rows in sorted(by_task.items())}
    fields = sorted({k for r in records for k in r.step_latency_ms})
    summary["step_latency_ms"] = {
        f: latency_stats([v for r in records for v in r.step_latency_ms.get(f, [])]) for f in fields
    }
    return summary


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class RunWriter:
    """Writes a run directory incrementally, so an interrupted run keeps its finished episodes."""

    def __init__(self, run_dir: str | Path, config: dict[str, Any], provenance: dict[str, Any]):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.provenance = provenance
        self.records: list[EpisodeRecord] = []
        self.episodes_path = self.run_dir / "episodes.jsonl"
        self.results_path = self.run_dir / "results.json"
        (self.run_dir / "provenance.json").write_text(
            json.dumps(provenance, indent=2, default=_json_default)
        )

    def add(self, record: EpisodeRecord) -> None:
        self.records.append(record)
        with self.episodes_path.open("a") as f:
            f.write(json.dumps(record.to_json(), default=_json_default) + "\n")

    def finish(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write results.json (summary + config + provenance) and return the summary."""
        summary = summarize(self.records)
        payload = {
            "summary": summary,
            "config": self.config,
            "provenance": self.provenance,
            **(extra or {}),
        }
        tmp = self.results_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload, indent=2, default=_json_default))
        tmp.replace(self.results_path)  # atomic: a crash never leaves half a results.json
        return summary


def read_episodes(path: str | Path) -> Iterable[dict[str, Any]]:
    """Rows of an episodes.jsonl file."""
    with Path(path).open() as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
