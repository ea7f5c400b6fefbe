"""Per-episode records, summaries with confidence intervals, and the files every run writes.

Layout of a run directory (Hydra's run dir)::

    config.yaml      resolved config
    provenance.json  versions, git commit, platform, seeds
    episodes.jsonl   one JSON object per finished episode (appended as they finish)
    results.json     status "ok": summary (success rate with a 95% Wilson interval, latency
                     statistics), config, provenance; status "failed": the error, no summary

``summary.step_latency_ms`` holds durations only (per control step, ms); what an inference was
besides its duration (uplink bandwidth, fallback, round trips) is in ``summary.inference``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.jsonio import dumps as strict_dumps
from core.jsonio import write_atomic
from ecc.runtime.records import EpisodeRecord, InferenceTiming, TimeAwareOutcome, latency_stats
from ecc.runtime.subscribers import SubscriberBase

__all__ = [
    "EpisodeRecord",
    "RunWriter",
    "inference_facts",
    "latency_stats",
    "read_episodes",
    "summarize",
    "time_aware_summary",
    "wilson_interval",
]

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
    # The bounds at k = 0 and k = n are exactly 0 and 1; the formula leaves rounding (5.55e-17).
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == trials else min(1.0, centre + half)
    return (lo, hi)


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
    facts = inference_facts([t for r in records for t in r.inferences])
    if facts:
        summary["inference"] = facts
    timed = time_aware_summary(records)
    if timed:
        summary["time_aware"] = timed
    return summary


def _rate_block(flags: Sequence[bool]) -> dict[str, Any]:
    n, k = len(flags), sum(1 for f in flags if f)
    lo, hi = wilson_interval(k, n)
    return {"episodes": n, "successes": k, "success_rate": k / n if n else math.nan,
            "success_ci95": [lo, hi]}  # fmt: skip


def time_aware_summary(records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """Success under both step budgets (Wilson 95%), mean time to success (world s) and the
    executed actions, holds and stale drops of the rollouts that carry ``extra["time_aware"]``.

    ``budgets.executed_actions`` is None when the run used the world-step budget (its failures
    say nothing about the executed-action budget). Empty when no record carries the block.
    """
    rows = [TimeAwareOutcome.from_json(r.extra["time_aware"]) for r in records
            if isinstance(r.extra.get("time_aware"), dict)]  # fmt: skip
    if not rows:
        return {}
    executed = [r.success_executed for r in rows]
    times = [r.time_to_success_s for r in rows if r.time_to_success_s is not None]
    return {
        "budget": rows[0].budget,
        "world_step_limit": rows[0].world_step_limit,
        "world_cap_s": rows[0].world_cap_s,
        "executors": sorted({r.executor for r in rows}),
        "budgets": {
            "world_steps": _rate_block([r.success_world_steps for r in rows]),
            "executed_actions": None
            if any(e is None for e in executed)
            else _rate_block([bool(e) for e in executed]),
        },
        "mean_time_to_success_s": float(np.mean(times)) if times else math.nan,
        "mean_executed_actions": float(np.mean([r.executed_actions for r in rows])),
        "mean_hold_fraction": float(np.mean([r.hold_fraction for r in rows])),
        "stale_dropped": int(sum(r.stale_dropped for r in rows)),
        "inferences": int(sum(r.inferences for r in rows)),
    }


def inference_facts(inferences: Sequence[InferenceTiming]) -> dict[str, Any]:
    """The non-duration facts of a run's inferences (empty when there were none).

    ``count``; ``uplink_mbps`` stats (Mbit/s, modeled deployments); ``fallback_fraction`` and
    ``aborted_fraction`` (shares of inferences, in [0, 1]); ``round_trips`` stats (count, emulated);
    ``cuts`` (partition label -> inferences, where the source names one); ``cloud_fraction`` (share
    of inferences with cloud compute > 0, where the source prices the cloud); ``bytes_up`` /
    ``bytes_down`` (bytes over the whole run).
    """
    if not inferences:
        return {}
    n = len(inferences)
    out: dict[str, Any] = {"count": n}
    mbps = [t.uplink_mbps for t in inferences if t.uplink_mbps is not None]
    if mbps:
        out["uplink_mbps"] = latency_stats(mbps)
    out["fallback_fraction"] = sum(1 for t in inferences if t.fallback) / n
    out["aborted_fraction"] = sum(1 for t in inferences if t.aborted) / n
    trips = [t.round_trips for t in inferences if t.round_trips is not None]
    if trips:
        out["round_trips"] = latency_stats(trips)
        out["round_trips_total"] = int(sum(trips))
    cuts: dict[str, int] = {}
    for t in inferences:
        if t.cut is not None:
            cuts[t.cut] = cuts.get(t.cut, 0) + 1
    if cuts:
        out["cuts"] = dict(sorted(cuts.items(), key=lambda kv: -kv[1]))
    cloud = [t.cloud_ms for t in inferences if t.cloud_ms is not None]
    if cloud:
        out["cloud_fraction"] = sum(1 for ms in cloud if ms > 0) / len(cloud)
    out["bytes_up"] = int(sum(t.bytes_up for t in inferences))
    out["bytes_down"] = int(sum(t.bytes_down for t in inferences))
    return out


class RunWriter(SubscriberBase):
    """Writes a run directory incrementally, so an interrupted run keeps its finished episodes.

    A subscriber: every finished episode (``on_episode_end``) is appended to episodes.jsonl.
    """

    def __init__(self, run_dir: str | Path, config: dict[str, Any], provenance: dict[str, Any]):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.provenance = provenance
        self.records: list[EpisodeRecord] = []
        self.episodes_path = self.run_dir / "episodes.jsonl"
        self.results_path = self.run_dir / "results.json"
        write_atomic(self.run_dir / "provenance.json", provenance)

    def on_episode_end(self, record: EpisodeRecord) -> None:
        self.add(record)

    def add(self, record: EpisodeRecord) -> None:
        self.records.append(record)
        with self.episodes_path.open("a") as f:
            f.write(strict_dumps(record.to_json()) + "\n")

    def finish(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write results.json (status ok, summary, config, provenance); return the summary.

        The file is strict JSON (a rate of an empty run is null, not NaN) and written
        atomically: a crash never leaves half a results.json.
        """
        summary = summarize(self.records)
        payload = {
            "status": "ok",
            "summary": summary,
            "config": self.config,
            "provenance": self.provenance,
            **(extra or {}),
        }
        write_atomic(self.results_path, payload)
        return summary

    def fail(self, error: BaseException, extra: dict[str, Any] | None = None) -> None:
        """Write results.json for a run that did not finish: status failed, the error, no summary.

        Nothing in it reads as a result (no success rate); the episodes that did finish stay
        in episodes.jsonl. ``experiments.aggregate`` lists such runs and skips them.
        """
        payload = {
            "status": "failed",
            "error": f"{type(error).__name__}: {error}",
            "episodes_finished": len(self.records),
            "config": self.config,
            "provenance": self.provenance,
            **(extra or {}),
        }
        write_atomic(self.results_path, payload)


def read_episodes(path: str | Path) -> Iterable[dict[str, Any]]:
    """Rows of an episodes.jsonl file."""
    with Path(path).open() as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
