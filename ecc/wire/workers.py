"""The server's handler threads: a fixed pool, each connection's requests one at a time.

A connection has at most one request in the pool, so the pool's queue holds at most one
request per connection and workers serve connections in arrival order rather than one greedy
client first. Workers never touch sockets: a reply goes to ``send``, which queues it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from ecc.wire.codec import Message
from ecc.wire.connection import Conn
from ecc.wire.context import ServerContext
from ecc.wire.handlers import Handler, call_handler


class Workers:
    """Runs requests on ``workers`` threads and times them into the reply's metadata.

    Every reply carries ``server_compute_ms`` (handler time) and ``server_queue_ms`` (wait for
    a worker), both in ms.

    Args:
        handlers: message type -> handler.
        ctx: ``config.workers`` (thread count), ``stats`` (counts requests and handler errors),
            ``send`` (the reply), ``release`` (a request body's reserved bytes), ``mark_dirty``
            (the connection changed) and ``stopped`` (start nothing new).
    """

    def __init__(self, handlers: Mapping[str, Handler], ctx: ServerContext) -> None:
        self.handlers = handlers
        self._ctx = ctx
        self._pool = ThreadPoolExecutor(
            max_workers=ctx.config.workers, thread_name_prefix="vecc-worker"
        )
        self._lock = threading.Lock()
        self._running: dict[int, tuple[float, str]] = {}  # worker thread -> (start, type)

    def submit(self, conn: Conn, msg: Message, reserved: int) -> None:
        """Queue ``msg`` (holding ``reserved`` body bytes) behind the connection's others."""
        with conn.lock:
            conn.pending.append((msg, time.perf_counter(), reserved))
            self._maybe_submit(conn)

    def running(self) -> list[tuple[float, str]]:
        """(start as ``time.monotonic()``, message type) of every request running now."""
        with self._lock:
            return list(self._running.values())

    def shutdown(self) -> None:
        """Wait for running handlers; drop requests not started."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _maybe_submit(self, conn: Conn) -> None:
        """Submit the connection's next request if none runs (caller holds ``conn.lock``)."""
        if conn.busy or not conn.pending or conn.closed or self._ctx.stopped():
            return
        conn.busy = True
        msg, t_in, reserved = conn.pending.popleft()
        try:
            self._pool.submit(self._run, conn, msg, t_in, reserved)
        except RuntimeError:  # pool shut down
            conn.busy = False
            self._ctx.release(reserved)

    def _run(self, conn: Conn, msg: Message, t_in: float, reserved: int) -> None:
        me = threading.get_ident()
        t_start = time.perf_counter()
        with self._lock:
            self._running[me] = (time.monotonic(), msg.type)
        try:
            reply = call_handler(self.handlers, msg, self._ctx.stats)
            t_end = time.perf_counter()
            reply.request_id = msg.request_id
            reply.meta = {
                **reply.meta,
                "server_compute_ms": (t_end - t_start) * 1e3,
                "server_queue_ms": (t_start - t_in) * 1e3,
            }
            del msg  # the request's tensors may go before the reply is queued
            self._ctx.send(conn, reply)
        finally:
            with self._lock:
                self._running.pop(me, None)
            self._ctx.release(reserved)
            with conn.lock:
                conn.busy = False
                self._maybe_submit(conn)
            self._ctx.mark_dirty(conn)
