"""How an arriving action chunk merges with the actions still queued: a named function from a registry.

Modeled on LeRobot's asynchronous-inference aggregate functions. The name comes from the scheduler's
config (``scheduler.aggregate``, default ``latest``). Both arrays are aligned by timestep: row i of
``fresh`` and row i of ``queued`` are meant for the same control step. A new merge is one function
added to ``CHUNK_MERGES``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ecc.errors import UnknownNameError

# (queued [n, A], fresh [m, A], alpha) -> the new queue [m, A]; must not modify its inputs.
ChunkMerge = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def latest(queued: np.ndarray, fresh: np.ndarray, alpha: float) -> np.ndarray:
    """The arriving chunk replaces the queue."""
    del queued, alpha
    return fresh.copy()


def weighted_average(queued: np.ndarray, fresh: np.ndarray, alpha: float) -> np.ndarray:
    """Overlapping timesteps average the pose deltas (weight ``alpha`` on the new chunk).

    The gripper (last column) is taken from the new chunk: averaging an open and a close command
    would give a half-closed one that neither plan asked for.
    """
    out = fresh.copy()
    n = min(len(queued), len(fresh))
    if n:
        out[:n, :-1] = alpha * fresh[:n, :-1] + (1 - alpha) * queued[:n, :-1]
    return out


CHUNK_MERGES: dict[str, ChunkMerge] = {"latest": latest, "weighted_average": weighted_average}


def chunk_merge(name: str, field: str = "scheduler.aggregate") -> ChunkMerge:
    """The merge registered as ``name``; an unknown name names ``field`` and the allowed names."""
    try:
        return CHUNK_MERGES[name]
    except (KeyError, TypeError):
        raise UnknownNameError(field, name, sorted(CHUNK_MERGES)) from None
