"""One server-side peer: its read stage and buffer, pending requests and bounded send queue.

The network thread owns the read side; ``out`` (the send queue), ``pending`` and ``busy`` are
shared with worker threads under ``lock``. Sizes are in bytes, times in s (``time.monotonic``).
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections import deque

from ecc.wire.codec import FrameHeader, Message
from ecc.wire.frame import PREFIX_BYTES, FrameLayout
from ecc.wire.handshake import ServerHandshake
from ecc.wire.secure import Channel, ChannelLimits
from ecc.wire.server_config import ServerConfig

SENDMSG_BUFFERS = 64  # most queued buffers handed to one sendmsg call


class Conn:
    """One peer's state; read/written by the network thread, ``out`` shared under ``lock``."""

    ids = itertools.count(1)

    def __init__(self, sock: socket.socket, secret: bytes, limits: ChannelLimits) -> None:
        self.id = next(self.ids)
        self.sock = sock
        try:
            host, port = sock.getpeername()[:2]
            self.peer = f"{host}:{port}"
        except (OSError, ValueError):
            self.peer = "?"
        self.opened = self.last_rx = time.monotonic()
        self.handshake: ServerHandshake | None = ServerHandshake(secret, limits)
        self.channel: Channel | None = None
        self.stage = "prefix"
        self.buf = bytearray(PREFIX_BYTES)
        self.got = 0
        self.layout: FrameLayout | None = None
        self.prefix = b""
        self.head: FrameHeader | None = None
        self.body_reserved = 0  # bytes of the frame being read
        self.pending: deque[tuple[Message, float, int]] = deque()  # (request, t_in, bytes held)
        self.busy = False
        self.out: deque[memoryview] = deque()
        self.out_bytes = 0
        self.send_since = 0.0  # when the send queue last made progress (or became non-empty)
        self.lock = threading.Lock()
        self.closed = False
        self.doomed = ""  # set by a worker: close this connection, for this reason
        self.events = 0

    @property
    def authenticated(self) -> bool:
        """Whether the handshake has finished (a channel is set)."""
        return self.channel is not None

    def mid_frame(self) -> bool:
        """Whether part of a frame (or handshake message) has arrived."""
        return self.got > 0 or self.stage != "prefix"

    def overdue(self, now: float, cfg: ServerConfig) -> tuple[str, bool]:
        """Why this connection must close at ``now`` (``time.monotonic()``, s), or ``""``; and
        whether that is for a peer that does not read its replies."""
        if not self.authenticated and now - self.opened > cfg.handshake_timeout_s:
            return f"no handshake within handshake_timeout_s={cfg.handshake_timeout_s}", False
        if self.out and now - self.send_since > cfg.send_timeout_s:
            return f"replies unread for send_timeout_s={cfg.send_timeout_s}", True
        if self.mid_frame() and self.stage != "budget" and now - self.last_rx > cfg.frame_timeout_s:
            return f"frame stalled for frame_timeout_s={cfg.frame_timeout_s}", False
        idle = not (self.busy or self.pending or self.out)
        if idle and now - self.last_rx > cfg.idle_timeout_s:
            return f"idle for idle_timeout_s={cfg.idle_timeout_s}", False
        if idle and self.channel is not None and self.channel.expired():
            return "channel past its byte or age limit (the peer reconnects)", False
        return "", False

    def expect(self, stage: str, nbytes: int) -> None:
        """Read ``nbytes`` bytes next, for ``stage``, into a fresh buffer."""
        self.stage, self.buf, self.got = stage, bytearray(nbytes), 0

    def held_bytes(self) -> int:
        """Bytes held by the pending requests' bodies (caller holds ``lock``)."""
        return sum(r for _, _, r in self.pending)

    def queue(self, bufs: list[memoryview], limit: int | None = None) -> int:
        """Append ``bufs`` to the send queue (caller holds ``lock``); returns the bytes queued.

        If the queue would pass ``limit`` bytes, nothing is queued and the connection is doomed:
        its peer is not reading.
        """
        nbytes = sum(len(b) for b in bufs)
        if limit is not None and self.out_bytes + nbytes > limit:
            self.doomed = (
                f"{self.out_bytes + nbytes} reply bytes queued; allowed: "
                f"max_send_queue_bytes={limit} (the peer is not reading)"
            )
            return 0
        if not bufs:
            return 0
        if not self.out:
            self.send_since = time.monotonic()
        self.out.extend(bufs)
        self.out_bytes += nbytes
        return nbytes

    def send_some(self) -> int:
        """One non-blocking ``sendmsg`` from the queue; returns the bytes sent (0: none or full).

        Raises ``OSError`` when the socket fails.
        """
        with self.lock:
            if not self.out:
                return 0
            chunk = list(itertools.islice(self.out, SENDMSG_BUFFERS))
        try:
            sent = self.sock.sendmsg(chunk)
        except (BlockingIOError, InterruptedError):
            return 0
        if sent <= 0:
            return 0
        freed = sent
        with self.lock:
            while sent and self.out:
                head = self.out[0]
                if sent >= len(head):
                    sent -= len(head)
                    self.out.popleft()
                else:
                    self.out[0] = head[sent:]
                    sent = 0
            self.out_bytes -= freed
            self.send_since = time.monotonic()
        return freed

    def drop(self) -> int:
        """Mark closed and forget pending requests and queued replies; returns the bytes freed."""
        with self.lock:
            self.closed = True
            dropped = self.held_bytes() + self.body_reserved + self.out_bytes
            self.pending.clear()
            self.out.clear()
            self.out_bytes = self.body_reserved = 0
        return dropped
