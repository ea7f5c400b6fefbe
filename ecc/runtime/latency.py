"""Where an inference's latency comes from: a deployment model, a constant, or the acting policy itself."""

from __future__ import annotations

from typing import Protocol

from ecc.errors import check_positive
from ecc.runtime.records import InferenceTiming


class LatencySource(Protocol):
    """Prices one inference requested at ``world_time_s`` (s since reset).

    ``measured_ms`` is the acting policy's own wall time for this inference (ms); sources that model a
    different deployment ignore it. ``target`` is the scheduler's placement hint: ``default`` (the
    configured partition), ``cloud`` or ``edge``.
    """

    def charge(
        self, world_time_s: float, measured_ms: float, target: str = "default"
    ) -> InferenceTiming: ...

    def reset(self) -> None: ...


class ConstantLatency:
    """Every inference costs ``latency_ms`` (ms). Useful for ablations and tests."""

    def __init__(self, latency_ms: float) -> None:
        self.latency_ms = float(
            check_positive("runtime.latency.latency_ms", latency_ms, allow_zero=True)
        )

    def charge(
        self, world_time_s: float, measured_ms: float, target: str = "default"
    ) -> InferenceTiming:
        return InferenceTiming(total_ms=self.latency_ms, edge_ms=self.latency_ms, source="constant")

    def reset(self) -> None:
        pass


class MeasuredLatency:
    """The acting policy's own measured wall time on this machine, scaled by ``scale``."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(check_positive("runtime.latency.scale", scale))

    def charge(
        self, world_time_s: float, measured_ms: float, target: str = "default"
    ) -> InferenceTiming:
        ms = measured_ms * self.scale
        return InferenceTiming(total_ms=ms, edge_ms=ms, source="measured")

    def reset(self) -> None:
        pass
