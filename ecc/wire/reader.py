"""Turning a connection's bytes into messages: prefix, handshake, header, then body.

Each stage reads into a buffer of exactly the size the previous one announced and checked. A
body's buffer is allocated only after its header has been authenticated and its bytes reserved
in the ``ByteBudget``; a connection whose body does not fit waits in stage ``budget``, unread.
Runs on the network thread only; every violation raises a ``ProtocolError``.
"""

from __future__ import annotations

import time

from ecc.wire import errors as E
from ecc.wire.budget import ByteBudget
from ecc.wire.codec import Codec
from ecc.wire.connection import Conn
from ecc.wire.context import ServerContext
from ecc.wire.frame import KIND_FINISH, KIND_HELLO, PREFIX_BYTES
from ecc.wire.handshake import expect

READ_CHUNK = 1 << 22  # most bytes read from one connection per readiness event (fairness)


class FrameReader:
    """Reads and validates frames for a ``FrameServer`` and hands each message to ``deliver``.

    Args:
        codec: frame limits and decoding.
        budget: byte budgets for request bodies and the send-queue limit.
        ctx: ``config.max_pending_requests`` (requests per connection waiting or running
            before reads pause), ``stats`` (counts handshakes), ``deliver`` (each request) and
            ``release`` (reserved bytes).
    """

    def __init__(self, codec: Codec, budget: ByteBudget, ctx: ServerContext) -> None:
        self.codec = codec
        self._budget = budget
        self._ctx = ctx

    def paused(self, conn: Conn) -> bool:
        """Whether ``conn`` must not be read now (budget, pipelining or send-queue limit)."""
        return (
            conn.stage == "budget"
            or len(conn.pending) + int(conn.busy) >= self._ctx.config.max_pending_requests
            or conn.out_bytes >= self._budget.max_send_queue_bytes
        )

    def read(self, conn: Conn) -> None:
        """Read what has arrived (at most ``READ_CHUNK`` bytes) and act on finished stages."""
        budget = READ_CHUNK
        while budget > 0 and not conn.closed and not self.paused(conn):
            view = memoryview(conn.buf)[conn.got :]
            try:
                n = conn.sock.recv_into(view, min(len(view), budget))
            except (BlockingIOError, InterruptedError):
                return
            if n == 0:
                where = "mid-frame" if conn.mid_frame() else "between frames"
                raise E.ConnectionClosed(f"peer closed {where}")
            conn.got += n
            budget -= n
            conn.last_rx = time.monotonic()
            if conn.stage == "prefix" and conn.got < PREFIX_BYTES:
                self.codec.check_lead(memoryview(conn.buf)[: conn.got])
            if conn.got == len(conn.buf):
                self._stage_done(conn)

    def retry_budget(self, conn: Conn) -> None:
        """Try again to reserve the body of a connection waiting on the budget."""
        if conn.stage == "budget" and not conn.closed:
            conn.stage = "header"
            self._start_body(conn)

    def _stage_done(self, conn: Conn) -> None:
        if conn.stage == "prefix":
            conn.prefix = bytes(conn.buf)
            layout = conn.layout = self.codec.parse_prefix(conn.prefix)
            if conn.handshake is not None:
                kind = KIND_HELLO if conn.handshake.expecting_hello else KIND_FINISH
                conn.expect("handshake", expect(layout, kind))
            else:
                conn.expect("header", layout.header_len)
        elif conn.stage == "handshake":
            self._handshake_step(conn)
        elif conn.stage == "header":
            assert conn.layout is not None
            assert conn.channel is not None
            conn.head = self.codec.open_header(
                conn.layout, conn.prefix, memoryview(conn.buf), conn.channel
            )
            if conn.layout.body_len:
                self._start_body(conn)
            else:
                msg = self.codec.open_body(conn.head, None, conn.channel)
                conn.expect("prefix", PREFIX_BYTES)  # a frame without a body: next prefix
                self._ctx.deliver(conn, msg, 0)
        elif conn.stage == "body":
            assert conn.head is not None
            assert conn.channel is not None
            sealed, reserved = conn.buf, conn.body_reserved
            conn.body_reserved = 0
            conn.expect("prefix", PREFIX_BYTES)  # before decoding: buf must not alias
            try:
                msg = self.codec.open_body(conn.head, memoryview(sealed), conn.channel)
            except BaseException:
                self._ctx.release(reserved)
                raise
            self._ctx.deliver(conn, msg, reserved)

    def _handshake_step(self, conn: Conn) -> None:
        hs = conn.handshake
        assert hs is not None
        if hs.expecting_hello:
            reply = hs.on_hello(conn.prefix, bytes(conn.buf))
            with conn.lock:
                self._budget.add(conn.queue([memoryview(reply)]))
        else:
            conn.channel = hs.on_finish(bytes(conn.buf))
            conn.handshake = None
            self._ctx.stats.handshakes += 1
        conn.expect("prefix", PREFIX_BYTES)

    def _start_body(self, conn: Conn) -> None:
        assert conn.layout is not None
        need = conn.layout.body_len
        self._budget.check_body(need)
        with conn.lock:  # a worker may pop from pending meanwhile
            held = conn.held_bytes()
        if not self._budget.try_reserve(need, held):
            conn.stage = "budget"  # wait (not reading) until bytes are released
            return
        conn.body_reserved = need
        conn.expect("body", need)
