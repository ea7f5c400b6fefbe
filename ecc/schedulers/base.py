"""Scheduler interface: at each control step, play the cached action or run a new inference.

A scheduler sees what the edge sees at that step (the observation, the simulator's per-step info such
as the 500 Hz joint histories, the cached queue, and the info of the last inference) and returns a
``Decision``. The runtime carries it out; the scheduler never touches the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Decision:
    """What to do at this control step.

    infer: request a new inference now (ignored while one is already pending).
    preempt: drop the rest of the cached chunk now (RAPID's critical phase); the robot holds until the
        new chunk arrives.
    target: where the inference should run: ``default`` (the configured partition), ``cloud`` or
        ``edge`` (priced by the latency source accordingly).
    reason: a short label for decision timelines (``chunk_empty``, ``critical``, ``uncertain`` ...).
    """

    infer: bool = False
    preempt: bool = False
    target: str = "default"
    reason: str = ""


PLAY = Decision()


@dataclass
class StepContext:
    """What a scheduler may look at when deciding (all edge-side information)."""

    step: int
    queue_len: int  # cached actions left
    chunk_len: int  # length of the last chunk received (0 before the first)
    steps_since_request: int
    pending: bool
    obs: dict[str, Any]
    info: dict[str, Any]  # env info of the last step (joint histories at 500 Hz, ...)
    last_inference_info: dict[str, Any] = field(default_factory=dict)


class Scheduler(Protocol):
    name: str
    aggregate: str  # how an arriving chunk merges with the cached queue: latest | weighted_average

    def reset(self) -> None: ...

    def decide(self, ctx: StepContext) -> Decision: ...


class SchedulerBase:
    """Shared defaults: replace the queue on arrival; keep a per-episode decision trace."""

    name = "base"
    aggregate = "latest"

    def __init__(self) -> None:
        self.trace: list[dict[str, Any]] = []

    def reset(self) -> None:
        self.trace = []

    def record(self, step: int, decision: Decision, **signals: float) -> Decision:
        # Bounded to one small dict per control step: episodes are at most a few hundred steps.
        self.trace.append(
            {
                "step": step,
                "infer": decision.infer,
                "preempt": decision.preempt,
                "target": decision.target,
                "reason": decision.reason,
                **signals,
            }
        )
        return decision

    def redundant_fraction(self) -> float:
        """Share of steps where the scheduler chose to keep playing the cached chunk."""
        if not self.trace:
            return float("nan")
        return float(np.mean([not (t["infer"] or t["preempt"]) for t in self.trace]))
