"""User-space link shaper: a TCP relay that rate-limits, delays, jitters and "loses" chunks.

The relay sits in the path (edge -> relay -> server and back) and terminates TCP on
both sides, so it shapes any protocol. Each direction is a two-stage pipeline, each
stage a thread:

1. *Serialiser* (rate): a chunk starts transmitting at ``max(arrival, link_free)`` and
   finishes ``bytes * 8 / rate`` later; ``link_free`` is kept in absolute time, so
   sleep overshoot never accumulates. The rate is read when the chunk starts, so a
   live rate change applies from the next chunk (<= ``chunk_bytes * 8 / rate``).
   With a delivery schedule (``ShapeParams.up_clock`` / ``down_clock``, an
   ``ecc.links.replay.DeliveryClock``) the chunk instead finishes at the last 1500-byte
   delivery opportunity it takes in that direction's FIFO, shared by every connection
   (``mm-link``'s queue; ``ecc.network.delivery_time_s`` on an empty link).
2. *Propagator* (delay, jitter, loss): the chunk is released ``delay + N(0, jitter)``
   after it finished, never before the previous chunk (a byte stream cannot reorder).
   Loss: TCP never loses bytes, it pays for them in time. Each of the chunk's
   ``ceil(bytes / mss)`` segments is lost with probability ``loss`` and each loss costs
   ``loss_penalty_ms`` (default: one round trip, a fast retransmit), the same model
   as the analytic link in ``ecc.network.link``.

A bounded queue in front of the serialiser (``queue_bytes``) is the emulated
bottleneck buffer; when it is full the relay stops reading and TCP flow control
pushes back on the sender.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ecc.links.errors import LinkConfigError

log = logging.getLogger(__name__)

UP, DOWN = "up", "down"  # edge -> cloud, cloud -> edge
_EOF = b""


@dataclass
class ShapeParams:
    """Current shaping of both directions; mutated live under ``lock``.

    Rates in bit/s (``math.inf``: not shaped here, e.g. when the kernel does it),
    delays in ms (one way), loss as a per-segment probability.
    """

    up_bps: float = math.inf
    down_bps: float = math.inf
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    loss_penalty_ms: float | None = None
    mss_bytes: int = 1448
    # Delivery schedules (ecc.links.replay.DeliveryClock) replacing the rate, per direction.
    up_clock: Any = None
    down_clock: Any = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.validate()

    def validate(self) -> None:
        """Raise ``LinkConfigError`` naming the first invalid field."""
        for name in ("up_bps", "down_bps"):
            v = getattr(self, name)
            if not (v > 0):
                raise LinkConfigError(name, v, "> 0 bit/s (inf: unshaped)")
        if not (math.isfinite(self.delay_ms) and 0 <= self.delay_ms <= 60_000):
            raise LinkConfigError("delay_ms", self.delay_ms, "0 .. 60000 ms")
        if not (math.isfinite(self.jitter_ms) and 0 <= self.jitter_ms <= 60_000):
            raise LinkConfigError("jitter_ms", self.jitter_ms, "0 .. 60000 ms")
        if not (0 <= self.loss < 1):
            raise LinkConfigError("loss", self.loss, "[0, 1)")
        if self.loss_penalty_ms is not None and not (0 <= self.loss_penalty_ms <= 60_000):
            raise LinkConfigError("loss_penalty_ms", self.loss_penalty_ms, "0 .. 60000 ms or None")
        if not 64 <= self.mss_bytes <= 65535:
            raise LinkConfigError("mss_bytes", self.mss_bytes, "64 .. 65535 bytes")

    def update(self, **changes: float | None) -> None:
        """Change fields atomically; on an invalid value nothing changes."""
        with self.lock:
            old = {k: getattr(self, k) for k in changes}
            for k, v in changes.items():
                setattr(self, k, v)
            try:
                self.validate()
            except LinkConfigError:
                for k, v in old.items():
                    setattr(self, k, v)
                raise

    def penalty_ms(self) -> float:
        """Cost of one lost segment (ms)."""
        if self.loss_penalty_ms is not None:
            return self.loss_penalty_ms
        return max(2 * self.delay_ms, 1.0)


class _Pipe:
    """One direction of one relayed connection: reader -> serialiser -> propagator."""

    def __init__(
        self,
        src: socket.socket,
        dst: socket.socket,
        direction: str,
        params: ShapeParams,
        chunk_bytes: int,
        queue_bytes: int,
        rng: random.Random,
        on_done: Callable[[], None],
    ) -> None:
        self.src, self.dst, self.direction, self.params = src, dst, direction, params
        self.chunk_bytes = chunk_bytes
        self.rng = rng
        self.on_done = on_done
        self.ser_q: queue.Queue[tuple[float, bytes]] = queue.Queue(
            max(2, queue_bytes // chunk_bytes)
        )
        self.prop_q: queue.Queue[tuple[float, bytes]] = queue.Queue()
        self.threads = [
            threading.Thread(target=f, name=f"vecc-shaper-{direction}-{f.__name__}", daemon=True)
            for f in (self._read, self._serialise, self._propagate)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _read(self) -> None:
        try:
            while True:
                data = self.src.recv(self.chunk_bytes)
                self.ser_q.put((time.monotonic(), data))
                if not data:
                    return
        except OSError:
            self.ser_q.put((time.monotonic(), _EOF))

    def _serialise(self) -> None:
        link_free = 0.0
        while True:
            arrival, data = self.ser_q.get()
            if data:
                with self.params.lock:
                    up = self.direction == UP
                    rate = self.params.up_bps if up else self.params.down_bps
                    clock = self.params.up_clock if up else self.params.down_clock
                if clock is not None:  # Mahimahi-exact: the opportunities this chunk takes
                    link_free = max(clock.take(len(data), arrival), link_free)
                else:
                    start = max(arrival, link_free)
                    link_free = start + (len(data) * 8 / rate if math.isfinite(rate) else 0.0)
                _sleep_until(link_free)
            self.prop_q.put((max(link_free, arrival), data))
            if not data:
                return

    def _propagate(self) -> None:
        last_release = 0.0
        try:
            while True:
                finished, data = self.prop_q.get()
                if not data:
                    _sleep_until(last_release)
                    with contextlib.suppress(OSError):
                        self.dst.shutdown(socket.SHUT_WR)
                    return
                with self.params.lock:
                    delay = self.params.delay_ms
                    jitter = self.params.jitter_ms
                    loss = self.params.loss
                    penalty = self.params.penalty_ms()
                    mss = self.params.mss_bytes
                extra = delay + (self.rng.gauss(0.0, jitter) if jitter else 0.0)
                if loss:
                    segments = -(-len(data) // mss)
                    lost = sum(self.rng.random() < loss for _ in range(segments))
                    extra += lost * penalty
                release = max(finished + max(extra, 0.0) / 1e3, last_release)
                _sleep_until(release)
                last_release = release
                self.dst.sendall(data)
        except OSError as e:
            log.debug("shaper %s pipe closed: %s", self.direction, e)
        finally:
            self.on_done()


def _sleep_until(t: float) -> None:
    dt = t - time.monotonic()
    if dt > 0:
        time.sleep(dt)


class ShapingRelay:
    """A TCP relay listening on ``listen_sock`` and forwarding each connection to ``target``.

    Args:
        listen_sock: a bound, listening socket (created wherever the edge can reach it,
            e.g. inside the cloud namespace).
        target: (host, port) of the real server.
        params: live shaping parameters, shared by all connections.
        connect_factory: creates the outgoing socket to ``target`` (e.g. in a namespace).
        chunk_bytes: read and scheduling granularity (bytes).
        queue_bytes: bottleneck buffer per direction (bytes).
        seed: RNG seed for jitter and loss (reproducible runs).
    """

    def __init__(
        self,
        listen_sock: socket.socket,
        target: tuple[str, int],
        params: ShapeParams,
        connect_factory: Callable[[], socket.socket] | None = None,
        chunk_bytes: int = 16384,
        queue_bytes: int = 8 * 2**20,
        seed: int = 0,
    ) -> None:
        if not 512 <= chunk_bytes <= 2**20:
            raise LinkConfigError("chunk_bytes", chunk_bytes, "512 .. 1048576 bytes")
        if queue_bytes < chunk_bytes:
            raise LinkConfigError("queue_bytes", queue_bytes, f">= chunk_bytes ({chunk_bytes})")
        self.listen_sock = listen_sock
        self.target = target
        self.params = params
        self.connect_factory = connect_factory or (
            lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        )
        self.chunk_bytes = chunk_bytes
        self.queue_bytes = queue_bytes
        self.rng = random.Random(seed)
        self._socks: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.listen_sock.settimeout(0.2)
        self._accept_thread = threading.Thread(
            target=self._accept, name="vecc-shaper-accept", daemon=True
        )
        self._accept_thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """Where the edge connects (host, port)."""
        return self.listen_sock.getsockname()[:2]

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listen_sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = self.connect_factory()
                upstream.connect(self.target)
            except OSError as e:
                log.warning("shaper: cannot reach server %s: %s", self.target, e)
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._socks.update((client, upstream))
            remaining = [2]

            def done(
                c: socket.socket = client, u: socket.socket = upstream, r: list = remaining
            ) -> None:
                with self._lock:
                    r[0] -= 1
                    if r[0] == 0:
                        for s in (c, u):
                            self._socks.discard(s)
                            s.close()

            seed = self.rng.getrandbits(32)
            _Pipe(
                client,
                upstream,
                UP,
                self.params,
                self.chunk_bytes,
                self.queue_bytes,
                random.Random(seed),
                done,
            ).start()
            _Pipe(
                upstream,
                client,
                DOWN,
                self.params,
                self.chunk_bytes,
                self.queue_bytes,
                random.Random(seed + 1),
                done,
            ).start()

    def close(self) -> None:
        """Stop accepting and close every relayed connection."""
        self._closed = True
        with contextlib.suppress(OSError):
            self.listen_sock.close()
        with self._lock:
            socks, self._socks = list(self._socks), set()
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self._accept_thread.join(timeout=1.0)
