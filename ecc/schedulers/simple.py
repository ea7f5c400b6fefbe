"""Schedules that ignore the world: every step, every N steps, or when the queue runs low."""

from __future__ import annotations

from ecc.errors import InvalidValueError, check_choice, check_positive
from ecc.schedulers.base import PLAY, Decision, SchedulerBase, StepContext


class EveryStep(SchedulerBase):
    """Run a new inference at every control step (the LIBERO/OpenVLA evaluation protocol)."""

    name = "every_step"

    def decide(self, ctx: StepContext) -> Decision:
        return self.record(ctx.step, Decision(infer=True, reason="every_step"))


class ReplanEveryN(SchedulerBase):
    """openpi's chunk replay: play ``n`` actions of each chunk, then replan (or earlier if it runs out)."""

    name = "replan_every_n"

    def __init__(self, n: int = 8) -> None:
        super().__init__()
        self.n = int(check_positive("scheduler.n", n))

    def decide(self, ctx: StepContext) -> Decision:
        if ctx.pending:
            return self.record(ctx.step, PLAY)
        if ctx.queue_len == 0:
            return self.record(ctx.step, Decision(infer=True, reason="chunk_empty"))
        if ctx.steps_since_request >= self.n:
            return self.record(ctx.step, Decision(infer=True, preempt=True, reason="every_n"))
        return self.record(ctx.step, PLAY)


class QueueThreshold(SchedulerBase):
    """LeRobot-style asynchronous inference: request when the queue falls to ``fraction`` of the chunk.

    Arriving chunks merge with what is still queued by timestep: ``latest`` replaces the overlap,
    ``weighted_average`` averages old and new actions for the overlapping timesteps (weight ``alpha``
    on the new chunk).
    """

    name = "queue_threshold"

    def __init__(
        self, fraction: float = 0.5, aggregate: str = "latest", alpha: float = 0.5
    ) -> None:
        super().__init__()
        self.fraction = float(check_positive("scheduler.fraction", fraction, allow_zero=True))
        if self.fraction > 1:
            raise InvalidValueError("scheduler.fraction", fraction, "a fraction in [0, 1]")
        self.aggregate = str(
            check_choice("scheduler.aggregate", aggregate, ("latest", "weighted_average"))
        )
        self.alpha = float(alpha)

    def decide(self, ctx: StepContext) -> Decision:
        if ctx.pending:
            return self.record(ctx.step, PLAY)
        if ctx.queue_len <= self.fraction * max(ctx.chunk_len, 1):
            return self.record(ctx.step, Decision(infer=True, reason="queue_low"))
        return self.record(ctx.step, PLAY)
