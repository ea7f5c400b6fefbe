"""The ``Link`` interface shared by every emulated link, its config, and live trace replay.

Directions: *up* is edge -> cloud, *down* is cloud -> edge. Rates are application
goodput in bit/s, delays one-way in ms (each direction), jitter the standard
deviation of the one-way delay in ms, loss a per-segment probability: the same
semantics as the analytic ``ecc.network.link.LinkState``.

Using a link (the same code for every kind)::

    with best_available(cfg) as link:
        srv = link.listen()                        # server socket on the cloud side
        addr = link.expose(srv.getsockname()[:2])  # what the edge connects to
        sock = link.edge_socket(); sock.connect(addr)
"""

from __future__ import annotations

import ipaddress
import logging
import math
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from ecc.links.errors import LinkConfigError, LinkUnavailable
from ecc.links.replay import DeliveryClock, ScheduleRates
from ecc.links.tc import TbfSettings
from ecc.network.schedule import Schedule

log = logging.getLogger(__name__)

LINK_KINDS: tuple[str, ...] = ("auto", "netem", "tbf_userspace", "userspace")

# A bandwidth schedule: seconds since the trace started -> (up_bps, down_bps).
RateSchedule = Callable[[float], tuple[float, float]]


@dataclass
class LinkConfig:
    """Everything a researcher may change about an emulated link (mirrors ``conf/link/*.yaml``).

    Rates in Mbit/s (1e6 bit/s) like ``ecc.network.link.LinkState``; times in ms.
    """

    kind: str = "auto"
    up_mbps: float = 100.0
    down_mbps: float = 100.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    loss_penalty_ms: float | None = None  # None: one round trip (fast retransmit)
    trace_hz: float = 20.0  # how often a bandwidth trace updates the shaping
    chunk_bytes: int = 16384  # user-space shaper granularity
    queue_bytes: int = 8 * 2**20  # user-space bottleneck buffer per direction
    seed: int = 0
    # Kernel TBF rate while the user-space shaper replays delivery schedules (Mbit/s): far
    # above any trace's burst, so the kernel only carries the bytes and the schedule decides.
    replay_kernel_mbps: float = 10_000.0
    edge_ip: str = "10.213.0.1"
    cloud_ip: str = "10.213.0.2"
    tbf: TbfSettings = field(default_factory=TbfSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.tbf, TbfSettings) and hasattr(self.tbf, "items"):
            # From YAML / OmegaConf; a Hydra ``_target_`` key is not a setting.
            self.tbf = TbfSettings(**{k: v for k, v in self.tbf.items() if k != "_target_"})
        if self.kind not in LINK_KINDS:
            raise LinkConfigError("link.kind", self.kind, f"one of {LINK_KINDS}")
        for name in ("up_mbps", "down_mbps"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0.001 <= v <= 32_000):
                raise LinkConfigError(f"link.{name}", v, "0.001 .. 32000 Mbit/s")
        for name in ("delay_ms", "jitter_ms"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v <= 60_000):
                raise LinkConfigError(f"link.{name}", v, "0 .. 60000 ms")
        if not 0 <= self.loss < 1:
            raise LinkConfigError("link.loss", self.loss, "[0, 1)")
        if self.loss_penalty_ms is not None and not 0 <= self.loss_penalty_ms <= 60_000:
            raise LinkConfigError(
                "link.loss_penalty_ms", self.loss_penalty_ms, "0 .. 60000 ms or null"
            )
        if not 512 <= self.chunk_bytes <= 2**20:
            raise LinkConfigError("link.chunk_bytes", self.chunk_bytes, "512 .. 1048576 bytes")
        if self.queue_bytes < self.chunk_bytes:
            raise LinkConfigError(
                "link.queue_bytes", self.queue_bytes, f">= chunk_bytes ({self.chunk_bytes})"
            )
        if not 1 <= self.trace_hz <= 1000:
            raise LinkConfigError(
                "link.trace_hz", self.trace_hz, "1 .. 1000 Hz (>= 10 recommended)"
            )
        if not (math.isfinite(self.replay_kernel_mbps) and 1 <= self.replay_kernel_mbps <= 32_000):
            raise LinkConfigError(
                "link.replay_kernel_mbps", self.replay_kernel_mbps, "1 .. 32000 Mbit/s"
            )
        if not self.edge_ip.startswith("10.") or not self.cloud_ip.startswith("10."):
            raise LinkConfigError(
                "link.edge_ip/cloud_ip", (self.edge_ip, self.cloud_ip), "private 10.x addresses"
            )

    @classmethod
    def from_mapping(cls, cfg: Any) -> LinkConfig:
        """Build from a dict or OmegaConf node (unknown keys raise, naming them)."""
        data = dict(cfg.items()) if hasattr(cfg, "items") else dict(cfg)
        data.pop("_target_", None)
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise LinkConfigError("link", unknown, f"keys among {sorted(allowed)}")
        return cls(**data)


@dataclass(frozen=True)
class StepSchedule:
    """Piecewise-constant rates: ``steps`` of (start_s, up_bps, down_bps), sorted by start."""

    steps: Sequence[tuple[float, float, float]]

    def __post_init__(self) -> None:
        if not self.steps or self.steps[0][0] != 0:
            raise LinkConfigError("steps", self.steps, "a non-empty list starting at t=0 s")
        if any(b[0] <= a[0] for a, b in zip(self.steps, self.steps[1:])):
            raise LinkConfigError("steps", self.steps, "strictly increasing start times")

    def __call__(self, t_s: float) -> tuple[float, float]:
        current = self.steps[0]
        for step in self.steps:
            if step[0] <= t_s:
                current = step
        return current[1], current[2]


def check_target(addr: tuple[str, int], allowed: Sequence[str]) -> None:
    """Refuse to shape traffic towards anything but loopback or the link's own addresses.

    Emulated links must never send traffic off the machine.
    """
    try:
        ip = ipaddress.ip_address(addr[0])
    except ValueError as e:
        raise LinkConfigError("server_addr", addr, "a numeric loopback or link address") from e
    if not (ip.is_loopback or str(ip) in allowed):
        raise LinkConfigError("server_addr", addr, f"loopback or one of {list(allowed)}")


def trace_schedule(up: Any, down: Any, floor_bps: float = 8e3) -> RateSchedule:
    """A ``RateSchedule`` from bandwidth traces (objects with ``at(t_s) -> Mbit/s``, such as
    ``ecc.network.traces.BandwidthTrace``) or constants in Mbit/s, one per direction.

    A shaped link cannot run at 0 bit/s, so outages are clamped to ``floor_bps`` (bit/s;
    default 8 kbit/s, i.e. 1 kB/s: effectively stalled for boundary tensors). When both are
    delivery schedules (``ecc.network.Schedule``) the result is a ``ScheduleRates``: a link
    with a user-space shaper then replays the opportunities themselves (``Link.apply_trace``).
    """
    if not floor_bps > 0:
        raise LinkConfigError("floor_bps", floor_bps, "> 0 bit/s")

    def rate(source: Any, t_s: float) -> float:
        mbps = float(source.at(t_s)) if hasattr(source, "at") else float(source)
        return max(mbps * 1e6, floor_bps)

    def rates(t_s: float) -> tuple[float, float]:
        return rate(up, t_s), rate(down, t_s)

    if isinstance(up, Schedule) and isinstance(down, Schedule):
        return ScheduleRates(up, down, rates)
    return rates


class TraceRunner:
    """Applies a ``RateSchedule`` to a link at ``hz`` in a background thread.

    ``applied`` records (t_s, up_bps, down_bps) of every update actually made (only
    changes are applied, so a steady trace costs nothing in the kernel).
    """

    def __init__(
        self, link: Link, schedule: RateSchedule, hz: float, duration_s: float | None = None
    ) -> None:
        if not 1 <= hz <= 1000:
            raise LinkConfigError("hz", hz, "1 .. 1000 Hz")
        self.link, self.schedule, self.period = link, schedule, 1.0 / hz
        self.duration_s = duration_s
        self.applied: list[tuple[float, float, float]] = []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vecc-trace", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last: tuple[float, float] | None = None
        tick = 0
        while not self._stop.is_set():
            t = time.monotonic() - self.t0
            if self.duration_s is not None and t > self.duration_s:
                return
            rates = self.schedule(t)
            if rates != last:
                try:
                    self.link.set_rate(*rates)
                except Exception as e:  # keep replaying; the log says what failed
                    log.warning("trace update at t=%.3f s to %s failed: %s", t, rates, e)
                else:
                    self.applied.append((t, *rates))
                    last = rates
            tick += 1
            # Absolute tick times: the update rate does not drift with the work done.
            self._stop.wait(max(0.0, self.t0 + tick * self.period - time.monotonic()))

    def stop(self) -> None:
        """Stop replaying (the link keeps its last rates)."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)


class Link(ABC):
    """An emulated edge-cloud link. Subclasses set ``kind`` and implement the shaping hooks."""

    kind: ClassVar[str] = ""
    # True where a user-space shaper carries every byte and can replay delivery schedules.
    replays_schedules: ClassVar[bool] = False

    def __init__(self, config: LinkConfig) -> None:
        self.config = config
        self.fallback_reason = ""  # why best_available did not pick a better kind
        self.trace_replay = ""  # how a trace is replayed (schedules, or binned rates and why)
        self.clocks: dict[str, DeliveryClock] = {}
        self._trace: TraceRunner | None = None
        self._closed = False

    # -- addressing ---------------------------------------------------------------
    @abstractmethod
    def listen(self, port: int = 0, backlog: int = 16) -> socket.socket:
        """A listening TCP socket on the cloud side."""

    @abstractmethod
    def edge_socket(self) -> socket.socket:
        """A fresh unconnected TCP socket on the edge side (use as a socket factory)."""

    @abstractmethod
    def expose(self, server_addr: tuple[str, int]) -> tuple[str, int]:
        """The address the edge connects to so that traffic to ``server_addr`` is shaped."""

    # -- shaping ------------------------------------------------------------------
    @abstractmethod
    def set_rate(self, up_bps: float, down_bps: float) -> None:
        """Set the goodput of each direction (bit/s), live."""

    @abstractmethod
    def set_delay(self, delay_ms: float, jitter_ms: float = 0.0) -> None:
        """Set the one-way delay and its standard deviation (ms), both directions."""

    @abstractmethod
    def set_loss(self, p: float) -> None:
        """Set the per-segment loss probability, both directions."""

    def apply_config(self) -> None:
        """Apply the config's static rate, delay, jitter and loss."""
        c = self.config
        self.set_rate(c.up_mbps * 1e6, c.down_mbps * 1e6)
        self.set_delay(c.delay_ms, c.jitter_ms)
        self.set_loss(c.loss)

    def set_schedules(self, up: Any, down: Any, offset_s: float = 0.0) -> dict[str, DeliveryClock]:
        """Replay delivery schedules (``ecc.network.Schedule`` or Mahimahi paths) per direction,
        starting ``offset_s`` seconds into them; returns the clocks (``up``, ``down``)."""
        raise LinkUnavailable(f"link kind {self.kind!r} cannot replay delivery schedules")

    def apply_trace(
        self, schedule: RateSchedule, hz: float | None = None, duration_s: float | None = None
    ) -> TraceRunner | None:
        """Replay a trace live: delivery schedules where this link can (``ScheduleRates`` on a
        link with a user-space shaper; returns None), else rates at ``hz`` (default
        ``config.trace_hz``). ``trace_replay`` (and ``describe()``) says which."""
        self.stop_trace()
        hz = hz or self.config.trace_hz
        if isinstance(schedule, ScheduleRates):
            if self.replays_schedules:
                self.set_schedules(schedule.up, schedule.down)
                self.trace_replay = (
                    "delivery schedules, opportunity by opportunity (user-space shaper)"
                )
                log.info("link %s: %s", self.kind, self.trace_replay)
                return None
            self.trace_replay = (f"binned rates at {hz:g} Hz (fallback: link kind {self.kind!r} "
                                 "has no user-space shaper to replay delivery opportunities)")  # fmt: skip
            log.warning("link %s: %s", self.kind, self.trace_replay)
        else:
            self.trace_replay = f"rates at {hz:g} Hz"
        self._trace = TraceRunner(self, schedule, hz, duration_s)
        return self._trace

    def stop_trace(self) -> None:
        """Stop a running trace replay, if any."""
        if self._trace is not None:
            self._trace.stop()
            self._trace = None

    def describe(self) -> dict[str, Any]:
        """What to record in results.json: the kind, why it was chosen, and its parameters."""
        cfg = asdict(self.config)
        clocks = {d: c.describe() for d, c in self.clocks.items()}
        return {"kind": self.kind, "fallback_reason": self.fallback_reason, "config": cfg,
                "trace_replay": self.trace_replay, "schedules": clocks}  # fmt: skip

    # -- lifetime -----------------------------------------------------------------
    def close(self) -> None:
        """Stop the trace and remove everything the link created; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop_trace()
        self._teardown()

    @abstractmethod
    def _teardown(self) -> None: ...

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
