"""A generic frame server: registered handlers run in a worker pool, off the network threads.

Each connection has a reader thread; requests go to a ``ThreadPoolExecutor`` (one
worker by default: inference is serial on one accelerator) so a long inference never
blocks reading, and ``health`` requests are answered at once by the reader thread
even while the worker is busy. Every reply carries the server's own timing in its
metadata (``server_compute_ms``: handler time, ``server_queue_ms``: wait for a
worker), so a client can split a round trip into network and compute
(RoboECC's bandwidth sample is bytes / (RTT - remote compute)).

A frame that fails validation is logged with its reason and its connection closed:
after a bad frame the stream cannot be trusted to be in sync.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ecc.wire import errors as E
from ecc.wire.codec import Codec, Message
from ecc.wire.transport import FramedSocket

log = logging.getLogger(__name__)

Handler = Callable[[Message], Message]
HEALTH = "health"
ERROR = "error"


@dataclass
class ServerStats:
    """Counters since start (requests handled, frames rejected, handler errors)."""

    requests: int = 0
    rejected: int = 0
    errors: int = 0


class FrameServer:
    """Serve ``handlers`` (message type -> function returning the reply) over framed TCP.

    Args:
        codec: the shared-secret codec.
        handlers: message type -> handler; ``health`` is built in.
        listen_sock: a bound listening socket (e.g. ``link.listen()`` in a namespace);
            default: a new one on ``127.0.0.1:port``.
        port: port for the default socket (0: any free port).
        read_timeout_s: an idle connection is closed after this long (s).
        workers: handler threads (1 keeps inference serial).
        health_info: extra fields of every ``health`` reply (e.g. a model fingerprint).
    """

    def __init__(
        self,
        codec: Codec,
        handlers: Mapping[str, Handler],
        listen_sock: socket.socket | None = None,
        port: int = 0,
        read_timeout_s: float = 300.0,
        workers: int = 1,
        health_info: Mapping[str, object] | None = None,
    ) -> None:
        if HEALTH in handlers or ERROR in handlers:
            raise E.WireConfigError(f"handler names {HEALTH!r} and {ERROR!r} are reserved")
        if workers < 1:
            raise E.WireConfigError(f"workers={workers}; allowed: >= 1")
        self.codec = codec
        self.handlers = dict(handlers)
        self.health_info = dict(health_info or {})
        self.sock = listen_sock or socket.create_server(("127.0.0.1", port))
        self.read_timeout_s = read_timeout_s
        self.stats = ServerStats()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vecc-worker")
        self._conns: set[FramedSocket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._t0 = time.monotonic()
        self.sock.settimeout(0.2)
        self._accept_thread = threading.Thread(target=self._accept, name="vecc-server", daemon=True)
        self._accept_thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on."""
        return self.sock.getsockname()[:2]

    def _accept(self) -> None:
        while not self._closed:
            try:
                raw, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn = FramedSocket(raw, self.codec, self.read_timeout_s)
            with self._lock:
                self._conns.add(conn)
            threading.Thread(
                target=self._serve, args=(conn,), name=f"vecc-conn-{conn.peer}", daemon=True
            ).start()

    def _serve(self, conn: FramedSocket) -> None:
        send_lock = threading.Lock()
        try:
            while not self._closed:
                try:
                    msg = conn.recv()
                except E.ProtocolError:
                    self.stats.rejected += 1  # already logged with its reason
                    return
                except E.TransportError as e:
                    log.debug("connection %s ended: %s", conn.peer, e)
                    return
                if msg.type == HEALTH:
                    reply = Message(HEALTH, msg.request_id, meta=self._health())
                    self._send(conn, send_lock, reply)
                    continue
                self._pool.submit(self._run, conn, send_lock, msg, time.perf_counter())
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def _health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "uptime_s": time.monotonic() - self._t0,
            "handlers": sorted(self.handlers),
            "requests": self.stats.requests,
            **self.health_info,
        }

    def _run(
        self, conn: FramedSocket, send_lock: threading.Lock, msg: Message, t_in: float
    ) -> None:
        t_start = time.perf_counter()
        handler = self.handlers.get(msg.type)
        if handler is None:
            reply = Message(
                ERROR,
                msg.request_id,
                meta={
                    "error": f"unknown message type {msg.type!r}; allowed: {sorted(self.handlers)}"
                },
            )
        else:
            try:
                reply = handler(msg)
                if not isinstance(reply, Message):
                    raise TypeError(f"handler returned {type(reply).__name__}; expected Message")
                self.stats.requests += 1
            except Exception as e:  # a failing handler must not take the server down
                self.stats.errors += 1
                log.exception("handler %r failed", msg.type)
                reply = Message(ERROR, msg.request_id, meta={"error": f"{type(e).__name__}: {e}"})
        t_end = time.perf_counter()
        reply.request_id = msg.request_id
        reply.meta = {
            **reply.meta,
            "server_compute_ms": (t_end - t_start) * 1e3,
            "server_queue_ms": (t_start - t_in) * 1e3,
        }
        self._send(conn, send_lock, reply)

    def _send(self, conn: FramedSocket, send_lock: threading.Lock, reply: Message) -> None:
        try:
            with send_lock:
                try:
                    conn.send(reply)
                except E.WireConfigError as e:  # unencodable reply: tell the client, not a timeout
                    log.warning("reply to %s not encodable: %s", conn.peer, e)
                    self.stats.errors += 1
                    conn.send(
                        Message(
                            ERROR, reply.request_id, meta={"error": f"reply not encodable: {e}"}
                        )
                    )
        except E.TransportError as e:
            log.warning("could not send reply to %s: %s", conn.peer, e)

    def close(self) -> None:
        """Stop accepting, close connections and wait for running handlers."""
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.sock.shutdown(socket.SHUT_RDWR)
            c.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._accept_thread.join(timeout=1.0)

    def __enter__(self) -> FrameServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
