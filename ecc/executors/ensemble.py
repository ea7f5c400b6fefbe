"""Temporal ensembling (ACT, Zhao et al. 2023): every prediction for a timestep is averaged."""

from __future__ import annotations

import math

import numpy as np

from ecc.errors import check_positive
from ecc.executors.base import ExecutorBase, hold_or_request
from ecc.schedulers.base import Decision, StepContext


class TemporalEnsembleExecutor(ExecutorBase):
    """Request whenever nothing is in flight; each timestep executes the exponentially weighted
    mean of every chunk that predicted it, ``w_i = exp(-m * i)`` with i = 0 the oldest
    prediction (ACT's weighting, m = 0.01 there).

    The merge keeps per queued row the summed weight and the prediction count, aligned with the
    runtime's queue (the runtime pops from the front, so the rows left are the tail). The gripper
    (last column) is the sign of its weighted mean: the robot's gripper command is binary.
    """

    name = "temporal_ensemble"
    why_overlap = "no two chunks predict the same timestep; it is naive async"

    def __init__(self, m: float = 0.01) -> None:
        super().__init__()
        self.m = float(check_positive("executor.m", m, allow_zero=True))
        self._wsum = np.zeros(0)
        self._count = np.zeros(0, dtype=np.int64)

    def reset(self) -> None:
        super().reset()
        self._wsum = np.zeros(0)
        self._count = np.zeros(0, dtype=np.int64)

    def decide(self, ctx: StepContext) -> Decision:
        return self.record(ctx.step, hold_or_request(ctx, math.inf))

    def merge(self, queued: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        n = min(len(queued), len(fresh))
        kept = len(queued)
        wsum = self._wsum[len(self._wsum) - kept :] if kept <= len(self._wsum) else np.ones(kept)
        count = (
            self._count[len(self._count) - kept :]
            if kept <= len(self._count)
            else np.ones(kept, dtype=np.int64)
        )
        out = fresh.astype(np.float64).copy()
        new_w = np.exp(-self.m * count[:n])
        if n:
            w_old = wsum[:n, None]
            out[:n] = (w_old * queued[:n] + new_w[:, None] * fresh[:n]) / (w_old + new_w[:, None])
            grip = out[:n, -1]
            out[:n, -1] = np.where(grip != 0, np.sign(grip), fresh[:n, -1])
        self._wsum = np.concatenate([wsum[:n] + new_w, np.ones(len(fresh) - n)])
        self._count = np.concatenate([count[:n] + 1, np.ones(len(fresh) - n, dtype=np.int64)])
        return out.astype(fresh.dtype)
