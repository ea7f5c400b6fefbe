"""Sync (hold while inferring) and async (request before the queue runs out) executors."""

from __future__ import annotations

from ecc.errors import InvalidValueError
from ecc.executors.base import ExecutorBase, hold_or_request
from ecc.schedulers.base import Decision, StepContext


class SyncExecutor(ExecutorBase):
    """Play each chunk to its end, then request and hold until the next one lands (openpi's
    chunk replay with the world moving). Works at any delay: it only costs hold steps."""

    name = "sync"
    needs_overlap = False

    def decide(self, ctx: StepContext) -> Decision:
        return self.record(ctx.step, hold_or_request(ctx, 0))


class AsyncExecutor(ExecutorBase):
    """LeRobot-style async: request when the queue falls to ``fraction`` of the chunk.

    ``adaptive``: the threshold is at least the latency estimate, fraction >= d / H, so the next
    chunk lands as the queue runs out (d from the last requests' delays, control steps); once
    d >= H it is 0 (sync): with one request in flight, a request made with q actions left gets
    H - q fresh actions per d + H - 2q steps, which falls with q when d > H (every early request
    then only buys stale actions). Arrivals replace the queue from their first fresh timestep
    (latest-only).
    """

    name = "async"

    def __init__(self, fraction: float = 0.5, adaptive: bool = False) -> None:
        super().__init__()
        if not 0.0 <= float(fraction) <= 1.0:
            raise InvalidValueError("executor.fraction", fraction, "a fraction in [0, 1]")
        self.fraction = float(fraction)
        self.adaptive = bool(adaptive)
        if self.adaptive:
            self.name = "async_adaptive"

    def threshold(self, ctx: StepContext) -> float:
        """Queue length (actions) at or below which a request goes out."""
        h = max(ctx.chunk_len, 1)
        base = self.fraction * h
        if not self.adaptive:
            return base
        d = self.delay_estimate
        return 0.0 if d >= h else max(base, float(d))

    def decide(self, ctx: StepContext) -> Decision:
        return self.record(ctx.step, hold_or_request(ctx, self.threshold(ctx)))
