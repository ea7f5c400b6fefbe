"""The ``network`` config group: a link plus optional delivery schedules, one per direction.

``trace`` is None (the link's constant rates), ``{up: ..., down: ...}`` where each side is a
Mahimahi file path, a bandwidth trace (a generator's output) or a schedule, or one bandwidth
trace (older configs: the uplink; the downlink keeps the link's down/up ratio).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecc.errors import InvalidValueError
from ecc.network.link import LinkState
from ecc.network.schedule import FluidSchedule, Schedule, as_schedule
from ecc.network.traces import BandwidthTrace

ScheduleSource = Schedule | BandwidthTrace | str | os.PathLike


@dataclass
class LinkTraces:
    """The delivery schedule of each direction (``up``: edge -> cloud, ``down``: cloud -> edge)."""

    up: Schedule
    down: Schedule

    @classmethod
    def of(cls, up: ScheduleSource, down: ScheduleSource) -> LinkTraces:
        for side, src in (("up", up), ("down", down)):
            if src is None:
                raise InvalidValueError(
                    f"network.trace.{side}", None, "a Mahimahi file or a generator"
                )
        return cls(as_schedule(up), as_schedule(down))

    def describe(self) -> dict[str, Any]:
        return {"up": self.up.describe(), "down": self.down.describe()}


@dataclass
class Network:
    """A link (delays, loss, nominal bandwidth) and, optionally, a schedule per direction."""

    link: LinkState
    trace: LinkTraces | Mapping | BandwidthTrace | None = None

    def __post_init__(self) -> None:
        tr = self.trace
        if tr is None or isinstance(tr, LinkTraces):
            return
        if isinstance(
            tr, BandwidthTrace
        ):  # one trace: the uplink, the downlink at the link's ratio
            ratio = self.link.down_mbps / self.link.up_mbps
            down = tr.scaled(ratio)
            self.trace = LinkTraces(
                FluidSchedule(tr),
                FluidSchedule(down, name=f"{tr.name} x {ratio:g} (down/up of the link)"),
            )
            return
        if isinstance(tr, Mapping):
            extra = set(tr) - {"up", "down"}
            if extra or "up" not in tr or "down" not in tr:
                raise InvalidValueError("network.trace", sorted(tr), "the keys 'up' and 'down'")
            self.trace = LinkTraces.of(tr["up"], tr["down"])
            return
        raise InvalidValueError(
            "network.trace", type(tr).__name__, "null, {up, down} or one bandwidth trace"
        )

    @property
    def schedules(self) -> LinkTraces | None:
        """The per-direction delivery schedules (None: constant rates)."""
        return self.trace  # type: ignore[return-value]

    def link_at(self, t_s: float) -> LinkState:
        """Link state at ``t_s`` (s) with the 100 ms-binned capacity of each direction.

        For beliefs, plots and predictors only: transfers over a trace are priced from the
        schedules (``ecc.schedule_cost``), never from a bin's rate.
        """
        if self.trace is None:
            return self.link
        up = max(float(self.trace.up.at(t_s)), 1e-3)
        down = max(float(self.trace.down.at(t_s)), 1e-3)
        return self.link.with_bandwidth(up, down)

    def mean_link(self) -> LinkState:
        """The link at each direction's mean capacity (the constant link without a trace)."""
        if self.trace is None:
            return self.link
        return self.link.with_bandwidth(self.trace.up.mean_mbps(), self.trace.down.mean_mbps())

    def describe(self) -> dict[str, Any]:
        """Link and per-direction schedules (file, bytes, sha256, mean) for result files."""
        lk = self.link
        out: dict[str, Any] = {"link": {"name": lk.name, "up_mbps": lk.up_mbps, "down_mbps": lk.down_mbps,
                                        "delay_ms": lk.delay_ms, "jitter_ms": lk.jitter_ms, "loss": lk.loss}}  # fmt: skip
        out["trace"] = None if self.trace is None else self.trace.describe()
        return out
