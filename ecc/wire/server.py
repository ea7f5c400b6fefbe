"""A generic frame server with every resource bounded: one selector thread and a worker pool.

Design (the numbers are ``ServerConfig`` fields):

* Threads: one network thread runs a ``selectors`` loop over all sockets (non-blocking) and
  ``workers`` handler threads run requests. Thread count is fixed, whatever the peers do.
* Connections: at most ``max_connections``. At the cap, a new peer evicts the oldest connection
  that has not authenticated yet; if all are authenticated the newcomer is closed at once.
  A peer must finish the handshake within ``handshake_timeout_s`` (it may send two 60-byte
  handshake messages before that, and no buffer over 32 bytes is allocated for it). ``accept`` failing with EMFILE/ENFILE
  (out of file descriptors) is logged, sheds one queued peer with a reserve descriptor, evicts
  an unauthenticated one, and backs off accepting for up to ``accept_backoff_max_s``; the loop
  never ends on an accept error.
* Memory: a frame's body is allocated only after its header has been authenticated, and only
  within budgets: ``max_conn_bytes`` per connection and ``max_total_bytes`` in all (request
  bodies held until their handler ends, plus queued replies). A connection that would exceed a
  budget is not read from until bytes are released (TCP then pushes back on the sender).
* Pipelining: at most ``max_pending_requests`` requests per connection wait or run; beyond that
  the connection is not read from. Each connection has at most one request in the worker pool at
  a time, so the pool's queue holds at most one request per connection and the workers serve
  connections in arrival order rather than one greedy client first.
* Replies: workers never write to sockets. A reply is sealed and appended to the connection's
  send queue (at most ``max_send_queue_bytes``); the network thread writes it when the socket is
  writable. A peer that does not read (queue full, or no send progress for ``send_timeout_s``)
  is disconnected; other peers are unaffected.
* Health is answered by the network thread at once, even with every worker busy, and reports
  ``status: "stalled"`` when a request has run longer than ``stall_after_s``.

Every reply carries the server's own timing in its metadata (``server_compute_ms``: handler
time, ``server_queue_ms``: wait for a worker), so a client can split a round trip into network
and compute (RoboECC's bandwidth sample is bytes / (RTT - remote compute)). A frame that fails
validation is logged with its reason and its connection closed.

This module runs the network thread; its parts: ``accept`` (EMFILE back-off), ``connection``
(per-peer state, send queue), ``reader`` (frames in), ``budget``, ``workers`` (handler pool),
``handlers`` (handler call, health), ``server_config`` (importable from here too).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ecc.wire import errors as E
from ecc.wire.accept import Acceptor
from ecc.wire.budget import ByteBudget
from ecc.wire.codec import Codec, Message
from ecc.wire.connection import Conn
from ecc.wire.context import ServerContext
from ecc.wire.handlers import ERROR, HEALTH, Handler, health_report
from ecc.wire.reader import FrameReader
from ecc.wire.server_config import ServerConfig, ServerStats
from ecc.wire.workers import Workers

__all__ = ["ERROR", "HEALTH", "FrameServer", "Handler", "ServerConfig", "ServerStats"]

log = logging.getLogger(__name__)


class FrameServer:
    """Serve ``handlers`` (message type -> function returning the reply) over sealed frames.

    Args:
        codec: the shared-secret codec (frame limits).
        handlers: message type -> handler; ``health`` is built in. ``msg.origin`` is the id of
            the connection a request came in on (handlers key per-peer state by it).
        listen_sock: a bound listening socket (e.g. ``link.listen()`` in a namespace);
            default: a new one on ``127.0.0.1:port``.
        port: port for the default socket (0: any free port).
        config: resource limits (``ServerConfig``).
        health_info: extra fields of every ``health`` reply (e.g. a model fingerprint).
        on_close: called with a connection id when that connection ends (drop its state).
        read_timeout_s, workers: shorthands for ``config.idle_timeout_s`` / ``config.workers``.
    """

    def __init__(
        self,
        codec: Codec,
        handlers: Mapping[str, Handler],
        listen_sock: socket.socket | None = None,
        port: int = 0,
        read_timeout_s: float | None = None,
        workers: int | None = None,
        health_info: Mapping[str, object] | None = None,
        config: ServerConfig | None = None,
        on_close: Callable[[int], None] | None = None,
    ) -> None:
        if HEALTH in handlers or ERROR in handlers:
            raise E.WireConfigError(f"handler names {HEALTH!r} and {ERROR!r} are reserved")
        cfg = config or ServerConfig()
        overrides: dict[str, Any] = {}
        if read_timeout_s is not None:
            overrides["idle_timeout_s"] = read_timeout_s
        if workers is not None:
            overrides["workers"] = workers
        if overrides:
            cfg = ServerConfig(**{**cfg.__dict__, **overrides})
        self.config = cfg
        self.codec = codec
        self.handlers = dict(handlers)
        self.health_info = dict(health_info or {})
        self.on_close = on_close
        self.max_conn_bytes = cfg.max_conn_bytes or 2 * codec.max_frame_bytes
        self.max_send_queue_bytes = cfg.max_send_queue_bytes or 2 * codec.max_frame_bytes
        self.stats = ServerStats()
        self.sock = listen_sock or socket.create_server(("127.0.0.1", port), backlog=1024)
        self.sock.setblocking(False)
        ctx = ServerContext(
            config=cfg,
            stats=self.stats,
            deliver=self._dispatch,
            send=self._send,
            release=self._release,
            mark_dirty=self._mark_dirty,
            admit=self._admit,
            evict_one=self._evict_unauthenticated,
            open_count=lambda: len(self._conns),
            stopped=lambda: self._closed,
        )
        self._budget = ByteBudget(
            cfg.max_total_bytes, self.max_conn_bytes, self.max_send_queue_bytes
        )
        self._workers = Workers(self.handlers, ctx)
        self._reader = FrameReader(codec, self._budget, ctx)
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._conns: dict[int, Conn] = {}  # insertion order = age
        self._dirty: set[int] = set()  # connections a worker touched (output queued, freed)
        self._lock = threading.Lock()  # _dirty
        self._closed = False
        self._t0 = time.monotonic()
        self._acceptor = Acceptor(self.sock, self._sel, ctx)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._loop, name="vecc-server", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on."""
        return self.sock.getsockname()[:2]

    @property
    def connections(self) -> int:
        """Open connections (authenticated or not)."""
        return len(self._conns)

    # ------------------------------------------------------------------ loop
    def _loop(self) -> None:
        next_sweep = 0.0
        while not self._closed:
            try:
                events = self._sel.select(timeout=0.05)
            except OSError as e:  # e.g. EINTR storms or a closed selector during shutdown
                if self._closed:
                    return
                log.warning("select failed: %s", e)
                time.sleep(0.01)
                continue
            for key, mask in events:
                tag = key.data
                try:
                    if tag == "listen":
                        self._acceptor.accept_some()
                    elif tag == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        self._on_events(tag, mask)
                except Exception:  # a bug must cost one connection, never the whole loop
                    log.exception("server loop error (%s)", tag)
                    if isinstance(tag, Conn):
                        self._close(tag)
            try:
                self._apply_dirty()
                now = time.monotonic()
                self._acceptor.resume_if_due(now)
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + 0.1
            except Exception:
                log.exception("server loop error (housekeeping)")

    def _on_events(self, conn: Conn, mask: int) -> None:
        if conn.closed:
            return
        try:
            if mask & selectors.EVENT_WRITE:
                self._flush(conn)
            if mask & selectors.EVENT_READ and not conn.closed:
                self._reader.read(conn)
        except E.ProtocolError as e:
            self.stats.rejected += 1
            log.warning("rejected frame from %s: %s: %s", conn.peer, type(e).__name__, e)
            self._close(conn)
        except (E.TransportError, OSError) as e:
            log.debug("connection %s ended: %s", conn.peer, e)
            self._close(conn)
        else:
            if not conn.closed:
                self._update_interest(conn)

    # ------------------------------------------------------------------ connections
    def _evict_unauthenticated(self) -> bool:
        for c in self._conns.values():
            if not c.authenticated:
                self.stats.evicted += 1
                log.debug("evicting unauthenticated %s", c.peer)
                self._close(c)
                return True
        return False

    def _admit(self, raw: socket.socket) -> None:
        if len(self._conns) >= self.config.max_connections and not self._evict_unauthenticated():
            self.stats.refused += 1
            log.warning(
                "connection cap %d reached by authenticated peers; refusing a new one",
                self.config.max_connections,
            )
            raw.close()
            return
        raw.setblocking(False)
        with contextlib.suppress(OSError):
            if raw.family in (socket.AF_INET, socket.AF_INET6):
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(raw, self.codec.secret, self.config.channel_limits)
        self._conns[conn.id] = conn
        conn.events = selectors.EVENT_READ
        self._sel.register(raw, conn.events, conn)

    # ------------------------------------------------------------------ requests
    def _dispatch(self, conn: Conn, msg: Message, reserved: int) -> None:
        msg.origin = conn.id
        if msg.type == HEALTH:  # answered here at once, even with every worker busy
            self._release(reserved)
            self._send(conn, Message(HEALTH, msg.request_id, meta=self._health()))
            return
        self._workers.submit(conn, msg, reserved)

    def _health(self) -> dict[str, object]:
        return health_report(
            time.monotonic(),
            self._t0,
            self._workers.running(),
            self._budget.used,
            len(self._conns),
            self.handlers,
            self.config,
            self.stats,
            self.health_info,
        )

    # ------------------------------------------------------------------ send
    def _send(self, conn: Conn, reply: Message) -> None:
        """Seal ``reply`` and queue it (any thread); never blocks on the socket."""
        with conn.lock:  # sealing and queueing together: the queue keeps the sequence order
            if conn.closed or conn.channel is None:
                return
            try:
                bufs = self.codec.encode_buffers(reply, channel=conn.channel)
            except E.WireConfigError as e:  # unencodable reply: tell the client, not a timeout
                log.warning("reply to %s not encodable: %s", conn.peer, e)
                self.stats.errors += 1
                bufs = self.codec.encode_buffers(
                    Message(ERROR, reply.request_id, meta={"error": f"reply not encodable: {e}"}),
                    channel=conn.channel,
                )
            except E.TransportError as e:  # channel byte limit: the peer must reconnect
                conn.doomed = str(e)
                bufs = []
            queued = conn.queue(bufs, self.max_send_queue_bytes)
            if queued:
                self._budget.add(queued)
        self._mark_dirty(conn)

    def _flush(self, conn: Conn) -> None:
        while freed := conn.send_some():
            self._release(freed)

    # ------------------------------------------------------------------ bookkeeping
    def _release(self, nbytes: int) -> None:
        if nbytes:
            self._budget.release(nbytes)
            self._wake()

    def _mark_dirty(self, conn: Conn) -> None:
        with self._lock:
            self._dirty.add(conn.id)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full pipe: the loop is awake anyway
            self._wake_w.send(b"\0")

    def _apply_dirty(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        for cid in dirty:
            conn = self._conns.get(cid)
            if conn is None or conn.closed:
                continue
            if conn.doomed:
                self.stats.slow_readers += 1
                log.warning("closing %s: %s", conn.peer, conn.doomed)
                self._close(conn)
                continue
            try:
                self._flush(conn)
            except OSError as e:
                log.debug("connection %s ended: %s", conn.peer, e)
                self._close(conn)
                continue
            self._update_interest(conn)
        # Bytes may have been released: connections waiting on a budget may go on.
        for conn in list(self._conns.values()):
            if conn.stage == "budget":
                try:
                    self._reader.retry_budget(conn)
                except E.ProtocolError as e:
                    self.stats.rejected += 1
                    log.warning("rejected frame from %s: %s", conn.peer, e)
                    self._close(conn)
                    continue
                self._update_interest(conn)

    def _update_interest(self, conn: Conn) -> None:
        want = 0 if self._reader.paused(conn) else selectors.EVENT_READ
        if conn.out:
            want |= selectors.EVENT_WRITE
        if want != conn.events:
            if conn.events and want:
                self._sel.modify(conn.sock, want, conn)
            elif want:
                self._sel.register(conn.sock, want, conn)
            else:
                self._sel.unregister(conn.sock)
            conn.events = want

    def _sweep(self, now: float) -> None:
        for conn in list(self._conns.values()):
            reason, slow_reader = conn.overdue(now, self.config)
            if slow_reader:
                self.stats.slow_readers += 1
            if reason:
                self.stats.timeouts += 1
                log.info("closing %s: %s", conn.peer, reason)
                self._close(conn)

    def _close(self, conn: Conn) -> None:
        if conn.closed:
            return
        self._release(conn.drop())
        self._conns.pop(conn.id, None)
        if conn.events:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._sel.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.close()
        if conn.authenticated and self.on_close is not None:
            try:
                self.on_close(conn.id)
            except Exception:
                log.exception("on_close(%d) failed", conn.id)

    def close(self) -> None:
        """Stop accepting, close connections and wait for running handlers."""
        self._closed = True
        self._wake()
        self._thread.join(timeout=2.0)
        with contextlib.suppress(OSError):
            self.sock.close()
        for conn in list(self._conns.values()):
            self._close(conn)
        self._workers.shutdown()
        with contextlib.suppress(OSError):
            self._sel.close()
        for s in (self._wake_r, self._wake_w):
            s.close()
        self._acceptor.close()

    def __enter__(self) -> FrameServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
