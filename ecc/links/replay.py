"""Replaying delivery schedules in wall-clock time: one FIFO per link direction, Mahimahi-exact.

A ``DeliveryClock`` is what ``mm-link`` does to one direction, in the user-space shaper: bytes
that arrive at ``a`` take the next free 1500-byte delivery opportunities of the schedule at or
after ``a`` (an opportunity nobody uses passes unused; a partly filled one takes the next
bytes of the queue while it is still ahead), and leave at the time of the last opportunity
they used. On an empty link a message of ``B`` bytes therefore leaves
``ecc.network.delivery_time_s(schedule, B, a)`` after it arrived; bytes queued ahead of it
delay it, as in ``ecc.network.transfer``. Schedule time 0 is ``epoch`` (``time.monotonic()``
seconds) minus ``offset_s``, so a replay may start anywhere in the trace.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ecc.links.errors import LinkConfigError
from ecc.network.schedule import Schedule, as_schedule
from ecc.network.traces import MAHIMAHI_PACKET_BYTES


class DeliveryClock:
    """The FIFO of one direction over ``schedule``; thread-safe (all connections share it).

    Args:
        schedule: a ``Schedule``, a bandwidth trace (fluid) or a Mahimahi file path.
        epoch: ``time.monotonic()`` seconds of schedule time ``offset_s`` (None: now).
        offset_s: where in the schedule the replay starts (s, >= 0).
    """

    def __init__(self, schedule: Any, epoch: float | None = None, offset_s: float = 0.0) -> None:
        if not (math.isfinite(offset_s) and offset_s >= 0):
            raise LinkConfigError("offset_s", offset_s, ">= 0 s")
        self.schedule: Schedule = as_schedule(schedule)
        self.offset_s = float(offset_s)
        self.epoch = time.monotonic() if epoch is None else float(epoch)
        self._lock = threading.Lock()
        self._next_free = 0  # index of the first opportunity nobody has taken
        self._left = 0  # bytes still free in opportunity _next_free - 1
        self.bytes_taken = 0

    def schedule_s(self, mono_s: float) -> float:
        """Schedule time (s) of a ``time.monotonic()`` instant."""
        return mono_s - self.epoch + self.offset_s

    def monotonic_s(self, schedule_s: float) -> float:
        """``time.monotonic()`` instant of a schedule time (s)."""
        return schedule_s - self.offset_s + self.epoch

    def take(self, nbytes: int, arrival: float) -> float:
        """Queue ``nbytes`` that arrived at ``arrival`` (monotonic s); when they leave (monotonic s)."""
        if nbytes <= 0:
            raise LinkConfigError("nbytes", nbytes, "> 0 bytes")
        t_ms = max(self.schedule_s(arrival), 0.0) * 1e3
        with self._lock:
            first = int(self.schedule.count_before(np.asarray(t_ms)))
            if first >= self._next_free:  # the link went idle: earlier opportunities passed unused
                self._next_free, self._left = first, 0
            n = nbytes - min(self._left, nbytes)
            self._left -= nbytes - n
            if n == 0:
                last = self._next_free - 1  # fits in the opportunity already being filled
            else:
                k = -(-n // MAHIMAHI_PACKET_BYTES)
                last = self._next_free + k - 1
                self._next_free = last + 1
                self._left = k * MAHIMAHI_PACKET_BYTES - n
            self.bytes_taken += nbytes
            leave_ms = float(self.schedule.time_of(np.asarray(last)))
        return self.monotonic_s(leave_ms / 1e3)

    def idle_at(self) -> float:
        """Monotonic s from which the queue is empty (every taken opportunity has passed)."""
        with self._lock:
            if self._next_free == 0:
                return -math.inf
            last_ms = float(self.schedule.time_of(np.asarray(self._next_free - 1)))
        return self.monotonic_s(last_ms / 1e3)

    def describe(self) -> dict[str, Any]:
        """The schedule (file, sha256, period, mean) and the replay's start offset."""
        return {**self.schedule.describe(), "offset_s": self.offset_s}


class ScheduleRates:
    """A ``RateSchedule`` (binned Mbit/s per direction, for links that can only set rates) that
    also carries the delivery schedules, so a link with a user-space shaper replays them exactly.

    ``Link.apply_trace`` replays ``up`` / ``down`` opportunity by opportunity where the link
    can; elsewhere it applies the binned rates at ``trace_hz`` and says so in the log and in
    ``Link.describe()``.
    """

    def __init__(
        self, up: Schedule, down: Schedule, rates: Callable[[float], tuple[float, float]]
    ) -> None:
        self.up, self.down, self._rates = up, down, rates

    def __call__(self, t_s: float) -> tuple[float, float]:
        return self._rates(t_s)
