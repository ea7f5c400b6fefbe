"""Delivery schedules: when a link direction may deliver a 1500-byte packet (Mahimahi-exact).

A Mahimahi trace file lists one delivery opportunity per line (integer ms since the start;
repeated values mean several packets in that ms). ``mm-link`` loops it with a period equal to
the last timestamp: opportunity ``k`` of an ``n``-line file is at
``(k // n) * last + t[k % n]`` ms (its ``LinkQueue::use_a_delivery_opportunity``). A synthetic
bandwidth trace becomes a *fluid* schedule: packet credit accrues at the trace's rate and
opportunity ``k`` is the instant the credit reaches ``k + 1`` packets, looping with the trace.

Both kinds answer two questions, vectorised: how many opportunities lie strictly before a
time (``count_before``) and when opportunity ``k`` is (``time_of``). A message of ``B`` bytes
sent at ``t`` on an empty link is delivered at the ``ceil(B / 1500)``-th opportunity at or
after ``t`` (:func:`delivery_time_s`); the link (``ecc.network.link_model``) adds its FIFO,
delay, jitter and loss on top.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ecc.errors import InvalidValueError, check_positive
from ecc.network.traces import MAHIMAHI_PACKET_BYTES, BandwidthTrace

# Mahimahi's own traces last minutes; a day bounds every real recording and keeps a hostile
# file (one line holding 10^13) from asking for a period no replay could ever reach.
MAX_PERIOD_MS = 86_400_000
_MAX_DIGITS = len(str(MAX_PERIOD_MS))
# Mbit/s of one opportunity per ms: 1500 bytes * 8 bit / 1 ms.
_MBPS_PER_PACKET_PER_MS = MAHIMAHI_PACKET_BYTES * 8 / 1e3


class Schedule:
    """Delivery opportunities of one link direction, looping with ``period_ms``.

    Subclasses define ``count_before(t_ms)`` (opportunities strictly before ``t_ms``) and
    ``time_of(k)`` (ms of opportunity ``k``, 0-based), both elementwise over arrays.
    """

    name: str
    period_ms: float

    def count_before(self, t_ms: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def time_of(self, k: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def mean_mbps(self) -> float:  # pragma: no cover - interface
        """Mean capacity over one period (Mbit/s)."""
        raise NotImplementedError

    def binned(self, bin_ms: float = 100.0) -> BandwidthTrace:  # pragma: no cover - interface
        """Capacity per ``bin_ms`` bin (Mbit/s): for plots and predictors, never for pricing."""
        raise NotImplementedError

    def at(self, t_s: float | np.ndarray) -> np.ndarray | float:
        """Binned (100 ms) capacity at ``t_s`` (Mbit/s), for code that wants one number."""
        return self._binned100.at(t_s)

    @cached_property
    def _binned100(self) -> BandwidthTrace:
        return self.binned(100.0)

    def describe(self) -> dict:
        """What this schedule is, for result files (name, kind, period, mean)."""
        return {"name": self.name, "kind": type(self).__name__, "period_s": self.period_ms / 1e3,
                "mean_mbps": round(self.mean_mbps(), 6)}  # fmt: skip


@dataclass(eq=False)
class MahimahiSchedule(Schedule):
    """A Mahimahi trace as it is: ``opportunities_ms`` non-decreasing ints, period = the last."""

    opportunities_ms: np.ndarray
    name: str = ""
    path: str = ""
    sha256: str = ""
    nbytes: int = 0
    period_ms: float = field(init=False)

    def __post_init__(self) -> None:
        ops = np.asarray(self.opportunities_ms, dtype=np.int64)
        if ops.ndim != 1 or len(ops) == 0:
            raise InvalidValueError("opportunities_ms", ops.shape, "a non-empty 1-d array")
        if np.any(np.diff(ops) < 0) or ops[0] < 0:
            raise InvalidValueError("opportunities_ms", "decreasing", "non-decreasing ms >= 0")
        if ops[-1] <= 0:
            raise InvalidValueError("last timestamp", int(ops[-1]), "> 0 ms (the period)")
        self.opportunities_ms = ops
        self.period_ms = float(ops[-1])

    @property
    def n(self) -> int:
        return len(self.opportunities_ms)

    def count_before(self, t_ms: np.ndarray) -> np.ndarray:
        t = np.asarray(t_ms, dtype=float)
        p, ops = self.period_ms, self.opportunities_ms
        m = np.floor(t / p)
        r = t - m * p
        # Loop m contributes ops < r. Loop m - 1 ends exactly at m * p (its last line is the
        # period), so it contributes ops < r + p: all of them unless r == 0. Older loops: all.
        cur = np.searchsorted(ops, r, side="left")
        prev = np.where(m >= 1, np.searchsorted(ops, r + p, side="left"), 0)
        return (np.maximum(m - 1, 0) * self.n + prev + cur).astype(np.int64)

    def time_of(self, k: np.ndarray) -> np.ndarray:
        k = np.asarray(k, dtype=np.int64)
        return (k // self.n) * self.period_ms + self.opportunities_ms[k % self.n]

    def mean_mbps(self) -> float:
        return self.n * _MBPS_PER_PACKET_PER_MS / self.period_ms

    def binned(self, bin_ms: float = 100.0) -> BandwidthTrace:
        check_positive("bin_ms", bin_ms)
        p = self.period_ms
        n_bins = int(np.ceil(p / bin_ms))
        # an opportunity at the period is the first of the next loop (time 0)
        ops = np.mod(self.opportunities_ms, p)
        counts = np.bincount((ops // bin_ms).astype(np.int64), minlength=n_bins)[:n_bins]
        dt = np.full(n_bins, float(bin_ms))
        dt[-1] = p - (n_bins - 1) * bin_ms  # the last bin ends at the period
        mbps = counts * _MBPS_PER_PACKET_PER_MS / dt
        return BandwidthTrace(np.arange(n_bins) * bin_ms / 1e3, mbps, dt[-1] / 1e3, name=self.name)

    def describe(self) -> dict:
        return {**super().describe(), "path": self.path, "bytes": self.nbytes,
                "sha256": self.sha256, "opportunities": self.n}  # fmt: skip


@dataclass(eq=False)
class FluidSchedule(Schedule):
    """A piecewise-constant bandwidth trace as a schedule: credit accrues at the trace's rate.

    ``trace.mbps[i]`` holds from ``trace.times_s[i]`` (times relative to the first); the
    schedule loops with ``trace.duration_s`` (or holds the last rate when the trace does not
    loop). Opportunity ``k`` is the instant the accrued credit reaches ``k + 1`` packets.
    """

    trace: BandwidthTrace
    name: str = ""
    period_ms: float = field(init=False)

    def __post_init__(self) -> None:
        tr = self.trace
        self.name = self.name or tr.name
        starts = (np.asarray(tr.times_s, float) - tr.times_s[0]) * 1e3
        ends = np.append(starts[1:], starts[-1] + tr.dt_last_s * 1e3)
        rate = np.asarray(tr.mbps, float) / _MBPS_PER_PACKET_PER_MS  # packets per ms
        if not tr.loop:  # the last rate holds forever: a very long last segment
            if rate[-1] <= 0:
                raise InvalidValueError(
                    f"trace {tr.name!r} last rate", 0.0, "> 0 Mbit/s when not looping"
                )
            ends[-1] = starts[-1] + 1e15
        self._starts, self._rate = starts, rate
        self._cum_end = np.cumsum(rate * (ends - starts))
        self._cum_start = self._cum_end - rate * (ends - starts)
        self.period_ms = float(ends[-1])
        self._total = float(self._cum_end[-1])
        if not self._total > 0:
            raise InvalidValueError(
                f"trace {tr.name!r}", "no capacity", "some bandwidth > 0 Mbit/s"
            )

    def credit(self, t_ms: np.ndarray) -> np.ndarray:
        """Packets of credit accrued from time 0 to ``t_ms``."""
        t = np.asarray(t_ms, dtype=float)
        m = np.floor(t / self.period_ms)
        r = t - m * self.period_ms
        j = np.clip(np.searchsorted(self._starts, r, side="right") - 1, 0, len(self._rate) - 1)
        return m * self._total + self._cum_start[j] + self._rate[j] * (r - self._starts[j])

    def count_before(self, t_ms: np.ndarray) -> np.ndarray:
        t = np.asarray(t_ms, dtype=float)
        # opportunity k lies before t when the credit at t exceeds k + 1; at equality (t inside
        # an outage, the credit flat since T_k) the opportunity's own time decides
        k = np.maximum(np.ceil(self.credit(t) - 1e-9) - 1, 0).astype(np.int64)
        return k + (self.time_of(k) < t - 1e-9)

    def time_of(self, k: np.ndarray) -> np.ndarray:
        q = np.asarray(k, dtype=float) + 1.0
        m = np.ceil(q / self._total) - 1  # the loop in which the credit reaches q
        qr = q - m * self._total
        j = np.clip(np.searchsorted(self._cum_end, qr, side="left"), 0, len(self._rate) - 1)
        return m * self.period_ms + self._starts[j] + (qr - self._cum_start[j]) / self._rate[j]

    def mean_mbps(self) -> float:
        return self._total * _MBPS_PER_PACKET_PER_MS / self.period_ms

    def binned(self, bin_ms: float = 100.0) -> BandwidthTrace:
        return self.trace

    def describe(self) -> dict:
        return {**super().describe(), "generator": self.trace.name}


def load_mahimahi_schedule(
    path: str | os.PathLike, max_period_ms: int = MAX_PERIOD_MS
) -> MahimahiSchedule:
    """Read a Mahimahi trace file as it is, rejecting what ``mm-link`` rejects.

    Errors name the file and the line: an empty line, anything but decimal digits, a
    timestamp below the previous one, a last timestamp of 0, or one past ``max_period_ms``
    (ms; default one day). Memory grows with the number of lines, never with their values.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidValueError("mahimahi trace", str(p), "an existing Mahimahi trace file")
    if not 0 < max_period_ms <= MAX_PERIOD_MS:
        raise InvalidValueError("max_period_ms", max_period_ms, f"1..{MAX_PERIOD_MS} ms")
    raw = p.read_bytes()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline ending the last line
    if not lines:
        raise InvalidValueError(f"{p}", "empty file", "at least one delivery opportunity (ms)")
    max_digits = len(str(max_period_ms))
    ops = np.empty(len(lines), dtype=np.int64)
    for i, line in enumerate(lines):
        if not line:
            raise InvalidValueError(f"{p}:{i + 1}", "an empty line", "one integer ms per line")
        # ASCII digits only (bytes.isdigit), checked before int() so a huge value is never built
        if not line.isdigit():
            raise InvalidValueError(
                f"{p}:{i + 1}", line[:40].decode("latin-1"), "an integer ms >= 0"
            )
        if len(line) > max_digits or int(line) > max_period_ms:
            raise InvalidValueError(
                f"{p}:{i + 1}",
                line[:40].decode("latin-1"),
                f"<= max_period_ms = {max_period_ms} ms",
            )
        ops[i] = int(line)
    dec = np.flatnonzero(np.diff(ops) < 0)
    if len(dec):
        i = int(dec[0]) + 1
        raise InvalidValueError(
            f"{p}:{i + 1}", int(ops[i]), f">= the previous timestamp {int(ops[i - 1])} ms"
        )
    if ops[-1] == 0:
        raise InvalidValueError(f"{p}:{len(ops)}", 0, "a last timestamp > 0 ms (the period)")
    return MahimahiSchedule(ops, name=p.name, path=str(p), sha256=hashlib.sha256(raw).hexdigest(),
                            nbytes=len(raw))  # fmt: skip


def as_schedule(source: Schedule | BandwidthTrace | str | os.PathLike) -> Schedule:
    """A schedule from a schedule, a bandwidth trace (fluid) or a Mahimahi file path."""
    if isinstance(source, Schedule):
        return source
    if isinstance(source, BandwidthTrace):
        return FluidSchedule(source)
    if isinstance(source, (str, os.PathLike)):
        return load_mahimahi_schedule(source)
    raise InvalidValueError(
        "schedule", type(source).__name__, "a Schedule, a BandwidthTrace or a Mahimahi file path"
    )


def packets(nbytes: np.ndarray) -> np.ndarray:
    """Delivery opportunities a message of ``nbytes`` bytes needs (ceil(bytes / 1500))."""
    b = np.asarray(nbytes, dtype=float)
    if np.any(b < 0):
        raise InvalidValueError("nbytes", float(b.min()), ">= 0 bytes")
    return np.ceil(b / MAHIMAHI_PACKET_BYTES).astype(np.int64)


def delivery_time_s(
    schedule: Schedule | BandwidthTrace | str | os.PathLike,
    nbytes: float | np.ndarray,
    send_s: float | np.ndarray,
) -> float | np.ndarray:
    """Seconds from ``send_s`` until the last of ``nbytes`` has a delivery opportunity.

    On an empty link, without propagation delay: the time of the ``ceil(nbytes / 1500)``-th
    opportunity at or after ``send_s`` (s, >= 0), minus ``send_s``; 0 for 0 bytes. Elementwise
    over arrays of sizes (bytes) and send times (s). ``schedule`` may be a Mahimahi file path.
    """
    sched = as_schedule(schedule)
    t = np.asarray(send_s, dtype=float) * 1e3
    if np.any(t < 0):
        raise InvalidValueError("send_s", float(t.min()) / 1e3, ">= 0 s")
    n = packets(nbytes)
    t, n = np.broadcast_arrays(t, n)
    last = sched.time_of(sched.count_before(t) + np.maximum(n, 1) - 1)
    out = np.where(n > 0, (last - t) / 1e3, 0.0)
    return float(out) if out.ndim == 0 else out


def load_mahimahi(path: str | os.PathLike, bin_ms: float = 100.0) -> BandwidthTrace:
    """Load a Mahimahi trace file and bin it into bandwidth (Mbit/s) per ``bin_ms``.

    For plots and predictors; transfers are priced from the schedule itself
    (:func:`load_mahimahi_schedule`, which also validates the file). The period is the last
    timestamp, as in ``mm-link``; the last bin ends there.
    """
    check_positive("bin_ms", bin_ms)
    return load_mahimahi_schedule(path).binned(bin_ms)
