"""``check_executor``: the contract every executor keeps (the scheduler checker's style).

An executor is a scheduler first, so ``ecc.schedulers.checker.check_scheduler`` runs on it
(liveness, no bare preemption, deterministic after ``reset``). On top:

- ``merge`` returns one row per fresh row with the fresh rows' action width, leaves its inputs
  unmodified, and on an empty queue returns the fresh chunk unchanged (nothing to merge with);
- ``generate`` returns a chunk [T, A] with T >= 1 from a stand-in policy, with and without
  committed actions;
- ``observe_delay`` at d >= H warns at most once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from ecc.executors.base import ExecutorBase
from ecc.schedulers.checker import SchedulerContractError, check_scheduler


class ExecutorContractError(SchedulerContractError):
    """An executor broke its contract; the message names the executor and the check."""


class StandInPolicy:
    """A seeded chunk policy with the sampling and guided hooks (chunk ``h`` x 7)."""

    def __init__(self, h: int = 8, seed: int = 0) -> None:
        self.h, self.rng = h, np.random.default_rng(seed)

        class _Head:
            chunk, action_dim = h, 7

        class _Shape:
            family, head = "pi0", _Head

        self.shape = _Shape

    def reset(self) -> None:
        self.rng = np.random.default_rng(0)

    def predict_action_chunk(self, obs: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        return self.rng.uniform(-1, 1, (self.h, 7)).astype(np.float32), {}

    def sample_action_chunks(self, obs: dict[str, Any], k: int) -> tuple[np.ndarray, dict]:
        return self.rng.uniform(-1, 1, (k, self.h, 7)).astype(np.float32), {}

    def predict_action_chunk_guided(
        self, obs: dict[str, Any], target: np.ndarray, weights: np.ndarray, w: float
    ) -> tuple[np.ndarray, dict[str, Any]]:
        free = self.rng.uniform(-1, 1, (self.h, 7)).astype(np.float32)
        return (weights[:, None] * target + (1 - weights[:, None]) * free).astype(np.float32), {}


def check_executor(make: Callable[[], ExecutorBase]) -> None:
    """Raise :class:`ExecutorContractError` (or the scheduler checker's) on the first broken check."""
    policy = StandInPolicy()
    ex = make()
    ex.bind(policy, None, 20.0)

    def bound() -> ExecutorBase:
        e = make()
        e.bind(StandInPolicy(), None, 20.0)
        return e

    check_scheduler(bound)
    name = ex.name
    rng = np.random.default_rng(1)
    for q, m in ((0, 8), (5, 8), (8, 3), (3, 0)):
        queued = rng.uniform(-1, 1, (q, 7)).astype(np.float32)
        fresh = rng.uniform(-1, 1, (m, 7)).astype(np.float32)
        before = (queued.copy(), fresh.copy())
        out = ex.merge(queued, fresh)
        if out.shape != fresh.shape:
            raise ExecutorContractError(
                f"executor {name!r}: merge of {q} queued + {m} fresh rows gave shape {out.shape}; "
                f"allowed: {fresh.shape}"
            )
        if not (np.array_equal(before[0], queued) and np.array_equal(before[1], fresh)):
            raise ExecutorContractError(f"executor {name!r}: merge modified its inputs")
        if q == 0 and not np.allclose(out, fresh):
            raise ExecutorContractError(f"executor {name!r}: merge on an empty queue changed it")
    ex.reset()
    for committed in (np.zeros((0, 7), np.float32), rng.uniform(-1, 1, (4, 7)).astype(np.float32)):
        ex.observe_delay(2, 8)
        chunk, info = ex.generate(policy, {}, committed)
        chunk = np.asarray(chunk)
        if chunk.ndim != 2 or chunk.shape[0] < 1 or not isinstance(info, dict):
            raise ExecutorContractError(
                f"executor {name!r}: generate gave {chunk.shape}, {type(info).__name__}; "
                "allowed: [T >= 1, A], dict"
            )
    warned: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = warned.append  # type: ignore[method-assign]
    logger = logging.getLogger("ecc.executors.base")
    logger.addHandler(handler)
    try:
        fresh_ex = make()
        for _ in range(3):
            fresh_ex.observe_delay(9, 8)
    finally:
        logger.removeHandler(handler)
    if len(warned) > 1:
        raise ExecutorContractError(f"executor {name!r}: warned {len(warned)} times at d >= H")
