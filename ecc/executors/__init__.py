"""Executors (Hydra group ``executor``): the request policy, chunk generation and merge in one place.

``scheduler`` (the default) keeps the ``scheduler`` group's decisions and merge; ``sync`` holds
while inferring; ``async`` requests at a fixed or delay-adaptive threshold; ``temporal_ensemble``
averages overlapping chunks (ACT); ``bid`` picks among sampled chunks (BID); ``rtc`` inpaints the
next chunk on the committed actions (Real-Time Chunking). A new executor is one class added to
``EXECUTORS`` and a ``conf/executor/<name>.yaml`` with its ``_target_``; ``check_executor``
(``ecc.executors.checker``) states the contract.
"""

from ecc.errors import UnknownNameError
from ecc.executors.base import (
    SAMPLING_FAMILIES,
    Executor,
    ExecutorBase,
    ExecutorFamilyError,
    SchedulerExecutor,
    policy_family,
)
from ecc.executors.bid import BidExecutor, bid_scores
from ecc.executors.ensemble import TemporalEnsembleExecutor
from ecc.executors.rtc import RtcExecutor, prefix_weights
from ecc.executors.sync import AsyncExecutor, SyncExecutor

EXECUTORS: dict[str, type[ExecutorBase]] = {
    "scheduler": SchedulerExecutor,
    "sync": SyncExecutor,
    "async": AsyncExecutor,
    "temporal_ensemble": TemporalEnsembleExecutor,
    "bid": BidExecutor,
    "rtc": RtcExecutor,
}


def make_executor(name: str, **params: object) -> ExecutorBase:
    """The executor registered as ``name`` built with ``params``; unknown names are refused."""
    if name not in EXECUTORS:
        raise UnknownNameError("executor", name, sorted(EXECUTORS))
    return EXECUTORS[name](**params)


__all__ = [
    "EXECUTORS",
    "SAMPLING_FAMILIES",
    "AsyncExecutor",
    "BidExecutor",
    "Executor",
    "ExecutorBase",
    "ExecutorFamilyError",
    "RtcExecutor",
    "SchedulerExecutor",
    "SyncExecutor",
    "TemporalEnsembleExecutor",
    "bid_scores",
    "make_executor",
    "policy_family",
    "prefix_weights",
]
