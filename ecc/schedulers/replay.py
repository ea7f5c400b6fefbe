"""Latency-free trigger replay: feed a recorded per-step info stream to a scheduler.

An idealised chunk queue (every inference returns at once with ``chunk_len`` actions) isolates
*when the trigger asks for an inference* from latency effects. A step is redundant when the
scheduler neither infers nor preempts (it plays the cached chunk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecc.errors import InvalidValueError
from ecc.schedulers.base import Scheduler, StepContext


@dataclass
class ReplayResult:
    """What a trigger did over one stream (idealised zero-latency chunk queue)."""

    steps: int
    inferences: int
    preemptions: int
    redundant_fraction: float  # NaN for schedulers that do not report it
    trace: list[dict[str, Any]]  # the scheduler's per-step decision trace


def replay_trigger(
    scheduler: Scheduler, infos: Sequence[dict[str, Any]], chunk_len: int = 8
) -> ReplayResult:
    """Run ``scheduler`` over ``infos`` (the env info of every control step) with an instant queue."""
    if isinstance(chunk_len, bool) or not isinstance(chunk_len, int) or chunk_len <= 0:
        raise InvalidValueError("chunk_len", chunk_len, "a positive integer (actions per chunk)")
    scheduler.reset()
    queue = 0
    last_request = -(10**9)
    have_chunk = 0
    inferences = preemptions = 0
    for step, info in enumerate(infos):
        ctx = StepContext(
            step=step,
            queue_len=queue,
            chunk_len=have_chunk,
            steps_since_request=step - last_request,
            pending=False,
            obs={},
            info=info,
        )
        d = scheduler.decide(ctx)
        if d.preempt:
            preemptions += 1
            queue = 0
        if d.infer:
            inferences += 1
            queue = chunk_len
            have_chunk = chunk_len
            last_request = step
        queue = max(queue - 1, 0)  # this step's action
    trace = list(getattr(scheduler, "trace", []))
    red = getattr(scheduler, "redundant_fraction", None)
    fraction = float(red()) if callable(red) else float("nan")
    return ReplayResult(len(infos), inferences, preemptions, fraction, trace)
