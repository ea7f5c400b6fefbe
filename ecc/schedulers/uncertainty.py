"""Environment-oriented baselines: replan when the policy's own outputs look uncertain or off-distribution.

These read only what the last inference returned (``last_inference_info``), which is why visual noise
fools them: noisy frames raise entropy and feature distance without the task becoming harder.
"""

from __future__ import annotations

import numpy as np

from ecc.errors import InvalidValueError, check_positive
from ecc.schedulers.base import PLAY, Decision, SchedulerBase, StepContext
from ecc.schedulers.safe import FailureCalibration


def _scalar(value: object) -> float:
    arr = np.asarray(value, dtype=np.float64)
    return float(arr.mean()) if arr.size else float("nan")


def _reported(info: dict, field: str, key: str, hint: str = "") -> object:
    """``info[key]``, or an error naming ``field`` and the keys the policy did report."""
    if key not in info:
        raise InvalidValueError(
            field, key, f"a key the policy reports; it reported {sorted(info)}{hint}"
        )
    return info[key]


class _UncertaintyTrigger(SchedulerBase):
    """Replan at once (at ``target``) when ``score(last inference) > threshold``; else chunk replay."""

    def __init__(self, threshold: float, min_interval: int = 1, target: str = "cloud") -> None:
        super().__init__()
        self.threshold = float(threshold)
        self.min_interval = int(check_positive("scheduler.min_interval", min_interval))
        self.target = target

    def score(self, ctx: StepContext) -> float:
        raise NotImplementedError

    def decide(self, ctx: StepContext) -> Decision:
        if ctx.pending:
            return self.record(ctx.step, PLAY)
        if ctx.queue_len == 0:
            return self.record(ctx.step, Decision(infer=True, reason="chunk_empty"))
        s = self.score(ctx) if ctx.last_inference_info else float("nan")
        if s > self.threshold and ctx.steps_since_request >= self.min_interval:
            return self.record(
                ctx.step,
                Decision(infer=True, preempt=True, target=self.target, reason="uncertain"),
                score=s,
            )
        return self.record(ctx.step, PLAY, score=s)


class EntropyTrigger(_UncertaintyTrigger):
    """Token entropy (autoregressive families) or sample spread (flow/diffusion) above a threshold (nats)."""

    name = "entropy"

    def __init__(
        self,
        threshold: float = 1.5,
        signal: str = "entropy",
        min_interval: int = 1,
        target: str = "cloud",
    ):
        super().__init__(threshold, min_interval, target)
        self.signal = signal

    def score(self, ctx: StepContext) -> float:
        return _scalar(
            _reported(
                ctx.last_inference_info,
                "scheduler.signal",
                self.signal,
                " (token_entropy: openvla family; sample_spread: pi0/cogact with "
                "policy.spread_samples >= 2)",
            )
        )


class FailureScoreTrigger(_UncertaintyTrigger):
    """SAFE-style: Mahalanobis distance of the policy's feature to features of successful rollouts.

    The Gaussian and the threshold come from a calibration file (``ecc.schedulers.safe``; written
    by ``python -m experiments.rapid.calibrate_failure_score``). The feature is the policy info
    field ``features`` (``policy.features=true``).
    """

    name = "failure_score"

    def __init__(
        self,
        calibration: str | None = None,
        feature: str = "features",
        min_interval: int = 1,
        target: str = "cloud",
        threshold: float | None = None,
    ) -> None:
        if calibration is None:
            raise InvalidValueError(
                "scheduler.calibration",
                None,
                "a path to an npz made by experiments.rapid.calibrate_failure_score",
            )
        self.calibration = FailureCalibration.load(calibration)
        calibrated = self.calibration.threshold
        super().__init__(calibrated if threshold is None else threshold, min_interval, target)
        self.feature = feature

    def score(self, ctx: StepContext) -> float:
        value = _reported(
            ctx.last_inference_info, "scheduler.feature", self.feature, " (policy.features=true)"
        )
        f = np.asarray(value, dtype=np.float64).reshape(-1)
        if f.shape != self.calibration.mean.shape:
            raise InvalidValueError(
                f"policy feature {self.feature!r} size",
                f.size,
                f"{self.calibration.mean.size} (the calibration's)",
            )
        return float(self.calibration.distance(f)[0])
