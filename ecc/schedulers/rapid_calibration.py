"""Calibrate RAPID's dual thresholds on recorded kinematic streams by bisection.

The paper publishes no window, thresholds or cooldown. The window, cooldown and speed fusion are
fixed (``TriggerParams``); ``high`` is bisected (in log space) so that the trigger, replayed over
the streams with an instant chunk queue of ``chunk_len`` actions (``ecc.schedulers.replay``),
leaves ``target_redundancy`` of all control steps redundant; ``low = low_ratio * high``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ecc.errors import InvalidValueError
from ecc.schedulers.rapid import RapidTrigger
from ecc.schedulers.replay import replay_trigger

Stream = Sequence[dict[str, Any]]  # the env info of every control step of one episode


@dataclass
class TriggerParams:
    """RapidTrigger fields that calibration does not search (see ecc/schedulers/rapid.py for units)."""

    window: int = 20  # control steps
    cooldown: int = 5  # control steps
    speed_ref: float = 0.3  # rad/s
    speed_scale: float = 0.1  # rad/s
    warmup: int = 5  # control steps
    physics_dt_s: float = 0.002  # s (500 Hz)
    target: str = "cloud"  # critical replans go to the cloud (RAPID)

    def trigger(self, high: float, low: float) -> RapidTrigger:
        return RapidTrigger(high=high, low=low, **asdict(self))


@dataclass
class ThresholdCalibration:
    """The chosen thresholds (importance, unitless) and what they achieve (shares in [0, 1])."""

    high: float
    low: float
    achieved_redundancy: float
    max_redundancy: float  # with no critical phase at all (chunk replay alone)
    critical_step_share: float  # share of steps whose importance exceeds `high`
    high_percentile: float  # percentile of the pooled importance distribution at `high`


def pooled_redundancy(streams: Sequence[Stream], trigger: RapidTrigger, chunk_len: int) -> float:
    """Redundant steps / all steps over every stream (steps-weighted)."""
    red = total = 0.0
    for infos in streams:
        r = replay_trigger(trigger, infos, chunk_len)
        red += r.redundant_fraction * r.steps
        total += r.steps
    return red / total if total else float("nan")


def importance_values(streams: Sequence[Stream], params: TriggerParams) -> np.ndarray:
    """Per-step fused importance over all streams (steps after the warm-up only)."""
    observer = params.trigger(high=math.inf, low=math.inf)  # never critical: observe only
    vals: list[float] = []
    for infos in streams:
        r = replay_trigger(observer, infos, 1)
        vals += [t["importance"] for t in r.trace if t["step"] >= params.warmup]
    return np.asarray(vals, dtype=np.float64)


def calibrate_thresholds(
    streams: Sequence[Stream],
    params: TriggerParams,
    target_redundancy: float = 0.85,
    chunk_len: int = 8,
    low_ratio: float = 0.5,
    iterations: int = 20,
) -> tuple[ThresholdCalibration, list[dict[str, float]]]:
    """Choose ``high`` (and ``low``) so the replayed redundancy hits the target; plus the search."""
    if not 0.0 < target_redundancy < 1.0:
        raise InvalidValueError("target_redundancy", target_redundancy, "a fraction in (0, 1)")
    if not 0.0 < low_ratio <= 1.0:
        raise InvalidValueError("low_ratio", low_ratio, "a fraction in (0, 1]")
    if not streams:
        raise InvalidValueError("episodes", 0, "at least one kinematic episode")
    imp = importance_values(streams, params)
    ceiling = pooled_redundancy(streams, params.trigger(math.inf, math.inf), chunk_len)
    if target_redundancy >= ceiling:
        raise InvalidValueError(
            "target_redundancy",
            target_redundancy,
            f"below {ceiling:.4f}, the redundancy of chunk replay alone with chunk_len={chunk_len}",
        )
    # Redundancy rises with `high` (fewer critical phases); bisect in log space between the
    # median importance and just above the maximum.
    lo, hi = max(float(np.percentile(imp, 50)), 1e-3), float(imp.max()) * 1.01 + 1e-3
    history: list[dict[str, float]] = []

    def at(h: float) -> float:
        r = pooled_redundancy(streams, params.trigger(h, low_ratio * h), chunk_len)
        history.append({"high": h, "redundancy": r})
        return r

    if at(lo) >= target_redundancy:
        hi = lo  # even the median is enough; keep it (more triggers would be spent for nothing)
    for _ in range(iterations if hi > lo else 0):
        mid = math.sqrt(lo * hi)
        if at(mid) >= target_redundancy:
            hi = mid
        else:
            lo = mid
    high = hi
    achieved = at(high)
    calib = ThresholdCalibration(
        high=high,
        low=low_ratio * high,
        achieved_redundancy=achieved,
        max_redundancy=ceiling,
        critical_step_share=float(np.mean(imp > high)),
        high_percentile=float(100.0 * np.mean(imp <= high)),
    )
    return calib, history
