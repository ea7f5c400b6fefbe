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
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ecc.wire import errors as E
from ecc.wire.codec import (
    KIND_FINISH,
    KIND_HELLO,
    PREFIX_BYTES,
    Codec,
    FrameHeader,
    FrameLayout,
    Message,
)
from ecc.wire.handshake import ServerHandshake, expect
from ecc.wire.secure import Channel, ChannelLimits

log = logging.getLogger(__name__)

Handler = Callable[[Message], Message]
HEALTH = "health"
ERROR = "error"
_FD_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_READ_CHUNK = 1 << 22  # most bytes read from one connection per readiness event (fairness)


@dataclass(frozen=True)
class ServerConfig:
    """Resource limits of a ``FrameServer`` (times in s, sizes in bytes).

    ``max_conn_bytes`` / ``max_send_queue_bytes`` default to twice the codec's max frame size.
    """

    max_connections: int = 256
    workers: int = 2
    handshake_timeout_s: float = 3.0
    idle_timeout_s: float = 300.0
    frame_timeout_s: float = 30.0  # a frame started must keep arriving (no byte this long: close)
    send_timeout_s: float = 10.0
    max_pending_requests: int = 4
    max_conn_bytes: int | None = None
    max_send_queue_bytes: int | None = None
    max_total_bytes: int = 1 << 30
    stall_after_s: float = 30.0
    accept_backoff_s: float = 0.05
    accept_backoff_max_s: float = 1.0
    channel_limits: ChannelLimits = field(default_factory=ChannelLimits)

    def __post_init__(self) -> None:
        for name in ("max_connections", "workers", "max_pending_requests", "max_total_bytes"):
            if getattr(self, name) < 1:
                raise E.WireConfigError(f"{name}={getattr(self, name)}; allowed: >= 1")
        for name in (
            "handshake_timeout_s",
            "idle_timeout_s",
            "frame_timeout_s",
            "send_timeout_s",
            "stall_after_s",
            "accept_backoff_s",
            "accept_backoff_max_s",
        ):
            if not getattr(self, name) > 0:
                raise E.WireConfigError(f"{name}={getattr(self, name)}; allowed: > 0 seconds")


@dataclass
class ServerStats:
    """Counters since start."""

    requests: int = 0  # handled by a handler
    rejected: int = 0  # frames (or handshakes) that failed validation
    errors: int = 0  # handler failures
    handshakes: int = 0  # authenticated connections
    timeouts: int = 0  # connections closed for a handshake, idle, frame or send timeout
    evicted: int = 0  # unauthenticated connections closed to admit a newer one
    refused: int = 0  # connections closed at once: the cap was reached by authenticated peers
    slow_readers: int = 0  # connections closed because their replies piled up
    accept_errors: int = 0  # accept() failures (EMFILE, ...), the loop went on


class _Conn:
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
        self.pending: deque[tuple[Message, float, int]] = deque()
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
        return self.channel is not None

    def mid_frame(self) -> bool:
        return self.got > 0 or self.stage != "prefix"


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
        self._pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="vecc-worker")
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._conns: dict[int, _Conn] = {}  # insertion order = age
        self._dirty: set[int] = set()  # connections a worker touched (output queued, freed)
        self._lock = threading.Lock()  # _dirty, _used, _running
        self._used = 0  # bytes held across connections (request bodies + queued replies)
        self._running: dict[int, tuple[float, str]] = {}  # worker thread -> (start, type)
        self._closed = False
        self._t0 = time.monotonic()
        self._accept_paused_until = 0.0
        self._accepting = True
        self._accept_backoff = cfg.accept_backoff_s
        self._accept_logged = 0.0
        self._reserve_fd: int | None = _open_reserve_fd()
        self._sel.register(self.sock, selectors.EVENT_READ, "listen")
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
                        self._accept_some()
                    elif tag == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        self._on_events(tag, mask)
                except Exception:  # a bug must cost one connection, never the whole loop
                    log.exception("server loop error (%s)", tag)
                    if isinstance(tag, _Conn):
                        self._close(tag)
            try:
                self._apply_dirty()
                now = time.monotonic()
                if not self._accepting and now >= self._accept_paused_until:
                    self._sel.register(self.sock, selectors.EVENT_READ, "listen")
                    self._accepting = True
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + 0.1
            except Exception:
                log.exception("server loop error (housekeeping)")

    def _on_events(self, conn: _Conn, mask: int) -> None:
        if conn.closed:
            return
        try:
            if mask & selectors.EVENT_WRITE:
                self._flush(conn)
            if mask & selectors.EVENT_READ and not conn.closed:
                self._read(conn)
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

    # ------------------------------------------------------------------ accept
    def _accept_some(self) -> None:
        now = time.monotonic()
        for _ in range(64):
            try:
                raw, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if self._closed:
                    return
                self.stats.accept_errors += 1
                if e.errno in _FD_ERRNOS:
                    self._out_of_descriptors(e, now)
                    return
                elif now - self._accept_logged > 5.0:
                    self._accept_logged = now
                    log.warning("accept failed (%s); still serving", e)
                return
            self._accept_backoff = self.config.accept_backoff_s
            self._admit(raw)

    def _out_of_descriptors(self, err: OSError, now: float) -> None:
        if now - self._accept_logged > 5.0:
            self._accept_logged = now
            log.warning(
                "accept failed: %s (%d open connections); shedding one waiting peer, evicting "
                "one unauthenticated connection and pausing accept for %.2f s",
                errno.errorcode.get(err.errno or 0, err),
                len(self._conns),
                self._accept_backoff,
            )
        if self._reserve_fd is not None:  # free one descriptor to drop one queued peer
            os.close(self._reserve_fd)
            self._reserve_fd = None
            with contextlib.suppress(OSError):
                raw, _ = self.sock.accept()
                raw.close()
            self._reserve_fd = _open_reserve_fd()
        self._evict_unauthenticated()
        self._accept_paused_until = now + self._accept_backoff
        # Unregister while paused: a readable listening socket would spin the loop.
        self._sel.unregister(self.sock)
        self._accepting = False
        self._accept_backoff = min(self._accept_backoff * 2, self.config.accept_backoff_max_s)

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
        conn = _Conn(raw, self.codec.secret, self.config.channel_limits)
        self._conns[conn.id] = conn
        conn.events = selectors.EVENT_READ
        self._sel.register(raw, conn.events, conn)

    # ------------------------------------------------------------------ read
    def _read_paused(self, conn: _Conn) -> bool:
        return (
            conn.stage == "budget"
            or len(conn.pending) + int(conn.busy) >= self.config.max_pending_requests
            or conn.out_bytes >= self.max_send_queue_bytes
        )

    def _read(self, conn: _Conn) -> None:
        budget = _READ_CHUNK
        while budget > 0 and not conn.closed and not self._read_paused(conn):
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

    def _expect(self, conn: _Conn, stage: str, nbytes: int) -> None:
        conn.stage, conn.buf, conn.got = stage, bytearray(nbytes), 0

    def _stage_done(self, conn: _Conn) -> None:
        if conn.stage == "prefix":
            conn.prefix = bytes(conn.buf)
            layout = conn.layout = self.codec.parse_prefix(conn.prefix)
            if conn.handshake is not None:
                kind = KIND_HELLO if conn.handshake.expecting_hello else KIND_FINISH
                self._expect(conn, "handshake", expect(layout, kind))
            else:
                self._expect(conn, "header", layout.header_len)
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
                self._dispatch(conn, self.codec.open_body(conn.head, None, conn.channel), 0)
        elif conn.stage == "body":
            assert conn.head is not None
            assert conn.channel is not None
            sealed, reserved = conn.buf, conn.body_reserved
            conn.body_reserved = 0
            self._expect(conn, "prefix", PREFIX_BYTES)  # before decoding: buf must not alias
            try:
                msg = self.codec.open_body(conn.head, memoryview(sealed), conn.channel)
            except BaseException:
                self._release(reserved)
                raise
            self._dispatch(conn, msg, reserved)

    def _handshake_step(self, conn: _Conn) -> None:
        hs = conn.handshake
        assert hs is not None
        if hs.expecting_hello:
            reply = hs.on_hello(conn.prefix, bytes(conn.buf))
            self._enqueue_raw(conn, [memoryview(reply)])
        else:
            conn.channel = hs.on_finish(bytes(conn.buf))
            conn.handshake = None
            self.stats.handshakes += 1
        self._expect(conn, "prefix", PREFIX_BYTES)

    def _start_body(self, conn: _Conn) -> None:
        assert conn.layout is not None
        need = conn.layout.body_len
        if need > self.max_conn_bytes or need > self.config.max_total_bytes:
            raise E.FrameTooLarge(
                f"body_len={need} bytes exceeds the per-connection budget "
                f"max_conn_bytes={self.max_conn_bytes} or max_total_bytes"
            )
        with conn.lock:  # a worker may pop from pending meanwhile
            held = sum(r for _, _, r in conn.pending)
        with self._lock:
            fits = held + need <= self.max_conn_bytes and self._used + need <= (
                self.config.max_total_bytes
            )
            if fits:
                self._used += need
        if not fits:
            conn.stage = "budget"  # wait (not reading) until bytes are released
            return
        conn.body_reserved = need
        conn.stage, conn.buf, conn.got = "body", bytearray(need), 0

    def _retry_budget(self, conn: _Conn) -> None:
        if conn.stage == "budget" and not conn.closed:
            conn.stage = "header"
            self._start_body(conn)

    # ------------------------------------------------------------------ requests
    def _dispatch(self, conn: _Conn, msg: Message, reserved: int) -> None:
        if conn.stage == "header":  # a frame without a body: ready for the next prefix
            self._expect(conn, "prefix", PREFIX_BYTES)
        msg.origin = conn.id
        if msg.type == HEALTH:
            self._release(reserved)
            self._send(conn, Message(HEALTH, msg.request_id, meta=self._health()))
            return
        with conn.lock:
            conn.pending.append((msg, time.perf_counter(), reserved))
            self._maybe_submit(conn)

    def _maybe_submit(self, conn: _Conn) -> None:
        """Submit the connection's next request if none runs (caller holds ``conn.lock``)."""
        if conn.busy or not conn.pending or conn.closed or self._closed:
            return
        conn.busy = True
        msg, t_in, reserved = conn.pending.popleft()
        try:
            self._pool.submit(self._run, conn, msg, t_in, reserved)
        except RuntimeError:  # pool shut down
            conn.busy = False
            self._release(reserved)

    def _run(self, conn: _Conn, msg: Message, t_in: float, reserved: int) -> None:
        me = threading.get_ident()
        t_start = time.perf_counter()
        with self._lock:
            self._running[me] = (time.monotonic(), msg.type)
        try:
            reply = self._call(msg)
            t_end = time.perf_counter()
            reply.request_id = msg.request_id
            reply.meta = {
                **reply.meta,
                "server_compute_ms": (t_end - t_start) * 1e3,
                "server_queue_ms": (t_start - t_in) * 1e3,
            }
            del msg  # the request's tensors may go before the reply is queued
            self._send(conn, reply)
        finally:
            with self._lock:
                self._running.pop(me, None)
            self._release(reserved)
            with conn.lock:
                conn.busy = False
                self._maybe_submit(conn)
            self._mark_dirty(conn)

    def _call(self, msg: Message) -> Message:
        handler = self.handlers.get(msg.type)
        if handler is None:
            return Message(
                ERROR,
                meta={
                    "error": f"unknown message type {msg.type!r}; allowed: {sorted(self.handlers)}"
                },
            )
        try:
            reply = handler(msg)
            if not isinstance(reply, Message):
                raise TypeError(f"handler returned {type(reply).__name__}; expected Message")
            self.stats.requests += 1
            return reply
        except Exception as e:  # a failing handler must not take the server down
            self.stats.errors += 1
            log.exception("handler %r failed", msg.type)
            return Message(ERROR, meta={"error": f"{type(e).__name__}: {e}"})

    def _health(self) -> dict[str, object]:
        now = time.monotonic()
        with self._lock:
            running = list(self._running.values())
            used = self._used
        oldest = max((now - t for t, _ in running), default=0.0)
        stalled = sum(1 for t, _ in running if now - t > self.config.stall_after_s)
        return {
            "status": "stalled" if stalled else "ok",
            "uptime_s": now - self._t0,
            "handlers": sorted(self.handlers),
            "requests": self.stats.requests,
            "workers": self.config.workers,
            "busy_workers": len(running),
            "stalled_workers": stalled,
            "oldest_request_s": oldest,
            "connections": len(self._conns),
            "bytes_held": used,
            **self.health_info,
        }

    # ------------------------------------------------------------------ send
    def _send(self, conn: _Conn, reply: Message) -> None:
        """Seal ``reply`` and queue it (any thread); never blocks on the socket."""
        with conn.lock:
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
            nbytes = sum(len(b) for b in bufs)
            if conn.out_bytes + nbytes > self.max_send_queue_bytes:
                conn.doomed = (
                    f"{conn.out_bytes + nbytes} reply bytes queued; allowed: "
                    f"max_send_queue_bytes={self.max_send_queue_bytes} (the peer is not reading)"
                )
            elif bufs:
                if not conn.out:
                    conn.send_since = time.monotonic()
                conn.out.extend(bufs)
                conn.out_bytes += nbytes
                with self._lock:
                    self._used += nbytes
        self._mark_dirty(conn)

    def _enqueue_raw(self, conn: _Conn, bufs: list[memoryview]) -> None:
        with conn.lock:
            if not conn.out:
                conn.send_since = time.monotonic()
            conn.out.extend(bufs)
            conn.out_bytes += sum(len(b) for b in bufs)
            with self._lock:
                self._used += sum(len(b) for b in bufs)

    def _flush(self, conn: _Conn) -> None:
        while True:
            with conn.lock:
                if not conn.out:
                    return
                chunk = list(itertools.islice(conn.out, 64))
            try:
                sent = conn.sock.sendmsg(chunk)
            except (BlockingIOError, InterruptedError):
                return
            if sent <= 0:
                return
            freed = sent
            with conn.lock:
                while sent and conn.out:
                    head = conn.out[0]
                    if sent >= len(head):
                        sent -= len(head)
                        conn.out.popleft()
                    else:
                        conn.out[0] = head[sent:]
                        sent = 0
                conn.out_bytes -= freed
                conn.send_since = time.monotonic()
            self._release(freed)

    # ------------------------------------------------------------------ bookkeeping
    def _release(self, nbytes: int) -> None:
        if nbytes:
            with self._lock:
                self._used -= nbytes
            self._wake()

    def _mark_dirty(self, conn: _Conn) -> None:
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
                    self._retry_budget(conn)
                except E.ProtocolError as e:
                    self.stats.rejected += 1
                    log.warning("rejected frame from %s: %s", conn.peer, e)
                    self._close(conn)
                    continue
                self._update_interest(conn)

    def _update_interest(self, conn: _Conn) -> None:
        want = 0 if self._read_paused(conn) else selectors.EVENT_READ
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
        cfg = self.config
        for conn in list(self._conns.values()):
            reason = ""
            if not conn.authenticated and now - conn.opened > cfg.handshake_timeout_s:
                reason = f"no handshake within handshake_timeout_s={cfg.handshake_timeout_s}"
            elif conn.out and now - conn.send_since > cfg.send_timeout_s:
                reason = f"replies unread for send_timeout_s={cfg.send_timeout_s}"
                self.stats.slow_readers += 1
            elif (
                conn.mid_frame()
                and conn.stage != "budget"
                and now - conn.last_rx > (cfg.frame_timeout_s)
            ):
                reason = f"frame stalled for frame_timeout_s={cfg.frame_timeout_s}"
            elif (
                not conn.busy
                and not conn.pending
                and not conn.out
                and now - conn.last_rx > cfg.idle_timeout_s
            ):
                reason = f"idle for idle_timeout_s={cfg.idle_timeout_s}"
            elif (
                conn.channel is not None
                and conn.channel.expired()
                and not (conn.busy or conn.pending or conn.out)
            ):
                reason = "channel past its byte or age limit (the peer reconnects)"
            if reason:
                self.stats.timeouts += 1
                log.info("closing %s: %s", conn.peer, reason)
                self._close(conn)

    def _close(self, conn: _Conn) -> None:
        if conn.closed:
            return
        with conn.lock:
            conn.closed = True
            dropped = sum(r for _, _, r in conn.pending) + conn.body_reserved + conn.out_bytes
            conn.pending.clear()
            conn.out.clear()
            conn.out_bytes = conn.body_reserved = 0
        self._release(dropped)
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
        self._pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(OSError):
            self._sel.close()
        for s in (self._wake_r, self._wake_w):
            s.close()
        if self._reserve_fd is not None:
            os.close(self._reserve_fd)
            self._reserve_fd = None

    def __enter__(self) -> FrameServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_reserve_fd() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None
