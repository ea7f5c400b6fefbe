"""Executor interface: one named choice owning when to request a chunk, how to generate it and how
it merges with the actions still queued (``ecc.runtime.simulated`` carries the decisions out).

An executor is also a scheduler (``decide`` at every control step, ``name``, ``aggregate``,
``reset``), so the scheduler contract checker applies to it; ``generate`` and ``merge`` are the
executor's own. ``observe_delay`` tells it the delay of every request (control steps), the latency
estimate delay-adaptive executors read. Executors that need the next chunk to overlap the queue
(everything but ``sync``) warn once when the delay reaches the horizon (d >= H) and say why.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Protocol

import numpy as np

from core.errors import VeccError, not_allowed
from ecc.runtime.merge import chunk_merge, latest
from ecc.schedulers.base import PLAY, Decision, SchedulerBase, StepContext

log = logging.getLogger(__name__)

# Flow (pi0) and diffusion (cogact) heads start from noise: they can be sampled and guided.
SAMPLING_FAMILIES = ("pi0", "cogact")


class ExecutorFamilyError(VeccError):
    """An executor was paired with a policy family it cannot drive."""

    def __init__(self, executor: str, family: str | None, allowed: tuple[str, ...], why: str):
        super().__init__(
            f"executor {executor!r}: {not_allowed('policy family', family, allowed)} ({why})"
        )


class Executor(Protocol):
    name: str
    aggregate: str

    def bind(self, policy: Any, scheduler: Any, control_hz: float) -> Any: ...

    def reset(self) -> None: ...

    def decide(self, ctx: StepContext) -> Decision: ...

    def generate(
        self, policy: Any, obs: dict[str, Any], committed: np.ndarray
    ) -> tuple[np.ndarray, dict[str, Any]]: ...

    def merge(self, queued: np.ndarray, fresh: np.ndarray) -> np.ndarray: ...

    def observe_delay(self, delay_steps: int, chunk_len: int) -> None: ...


def policy_family(policy: Any) -> str | None:
    """The VLA family under any wrappers (``shape.family``), None for policies without a shape."""
    seen = 0
    while policy is not None and seen < 8:
        shape = getattr(policy, "shape", None)
        if shape is not None and hasattr(shape, "family"):
            return str(shape.family)
        policy, seen = getattr(policy, "policy", None), seen + 1
    return None


def find_method(policy: Any, method: str) -> Any:
    """``policy.<method>`` on the policy or the first wrapped ``.policy`` that has it (or None)."""
    for _ in range(8):
        if policy is None:
            return None
        if callable(getattr(policy, method, None)):
            return getattr(policy, method)
        policy = getattr(policy, "policy", None)
    return None


class ExecutorBase(SchedulerBase):
    """Shared parts: plain generation, latest-only merge, the delay estimate, the d >= H warning.

    ``families``: the families it can drive (None: any). ``needs_overlap``: it only works while
    the next chunk overlaps the queue (d < H); ``why_overlap`` says what breaks otherwise.
    """

    name = "executor"
    families: tuple[str, ...] | None = None
    needs_overlap = True
    why_overlap = "the next chunk arrives after the queue ran out; it degrades to sync"
    delay_window = 4  # requests the delay estimate looks back over (max of them, in steps)

    def __init__(self) -> None:
        super().__init__()
        self._delays: deque[int] = deque(maxlen=self.delay_window)
        self._warned = False

    def bind(self, policy: Any, scheduler: Any, control_hz: float) -> Any:
        """Check the policy's family; the object the runtime reports as its scheduler (self)."""
        del scheduler, control_hz
        family = policy_family(policy)
        if self.families is not None and family not in self.families:
            raise ExecutorFamilyError(self.name, family, self.families, self.family_why())
        return self

    def family_why(self) -> str:
        return "it needs a sampled (flow or diffusion) action head"

    def reset(self) -> None:
        super().reset()
        self._delays.clear()  # decisions depend on this episode only (the checker's contract)

    @property
    def delay_estimate(self) -> int:
        """Delay of the next request (control steps): the max over the last few requests."""
        return max(self._delays) if self._delays else 0

    def observe_delay(self, delay_steps: int, chunk_len: int) -> None:
        self._delays.append(int(delay_steps))
        if self.needs_overlap and delay_steps >= chunk_len and not self._warned:
            self._warned = True  # once per executor: a sweep cell would repeat it every request
            log.warning(
                "executor %s cannot work at d=%d >= H=%d steps: %s",
                self.name, delay_steps, chunk_len, self.why_overlap,
            )  # fmt: skip

    def generate(
        self, policy: Any, obs: dict[str, Any], committed: np.ndarray
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The next chunk [H, A] for ``obs``; ``committed`` [q, A] is the queue at the request."""
        del committed
        return policy.predict_action_chunk(obs)

    def merge(self, queued: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        """The new queue from the actions still queued and the arrival's fresh rows (by timestep)."""
        return latest(queued, fresh, 0.0)


class SchedulerExecutor(ExecutorBase):
    """The ``scheduler`` group decides and ``scheduler.aggregate`` merges: today's behaviour."""

    name = "scheduler"
    needs_overlap = False

    def __init__(self) -> None:
        super().__init__()
        self.scheduler: Any = None

    def bind(self, policy: Any, scheduler: Any, control_hz: float) -> Any:
        del policy, control_hz
        self.scheduler = scheduler
        self.aggregate = getattr(scheduler, "aggregate", "latest")
        self._merge = chunk_merge(self.aggregate)
        self._alpha = float(getattr(scheduler, "alpha", 0.5))
        return scheduler  # the runtime reports (and resets) the scheduler itself

    def decide(self, ctx: StepContext) -> Decision:
        return self.scheduler.decide(ctx)

    def merge(self, queued: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        return self._merge(queued, fresh, self._alpha)


def hold_or_request(ctx: StepContext, threshold: float) -> Decision:
    """Request when nothing is in flight and the queue is at or below ``threshold`` actions."""
    if ctx.pending:
        return PLAY
    if ctx.queue_len <= threshold:
        return Decision(infer=True, reason="queue_low" if ctx.queue_len else "chunk_empty")
    return PLAY
