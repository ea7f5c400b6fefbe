"""Cloud stage server: runs the cloud segments of a split VLA for any number of edge clients.

The stage logic is a pair of handlers on the generic ``ecc.wire.server.FrameServer``, which reads
every connection on one selector thread, runs handlers on a small worker pool (so a slow forward
never blocks the network loop and ``health`` is answered at once), stamps every reply with the
server's own compute time (``server_compute_ms``), and closes a connection after a bad frame.

Messages:
    health -> health   meta: fingerprint (model), stages, sessions (plus the server's own fields)
    run    -> result   meta: client, session, start, end, return_keys, close; tensors: segment inputs
                       reply tensors: return_keys
    close  -> closed   drops a session
Failures come back as ``error`` with meta ``error`` (the reason).

A session holds the cloud side's boundary state (its KV caches, ...) across the segments of one
action generation. It belongs to the authenticated connection that opened it: its key is (connection
id, client id, session number), so another peer naming the same numbers gets a session of its own
and can neither read nor close it; a connection's sessions are dropped when it closes. Sessions are
capped by count (``max_sessions``), by bytes (``max_session_bytes`` each, ``max_total_session_bytes``
in all; the least recently used go first) and expire ``session_ttl_s`` after their last use.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
from collections import OrderedDict
from typing import Any

import torch

from agents.staged import StagedModel
from ecc.wire import Codec, Message
from ecc.wire.server import FrameServer, ServerConfig

log = logging.getLogger(__name__)


def model_fingerprint(model: StagedModel) -> str:
    """Stage names and parameter shapes (and a digest of the parameter values for small models)."""
    h = hashlib.sha256()
    for s in model.stages():
        h.update(f"{s.name}|{s.module};".encode())
    if isinstance(model, torch.nn.Module):
        for name, p in model.named_parameters():
            h.update(f"{name}:{tuple(p.shape)};".encode())
            if p.device.type != "meta" and p.numel() <= 1 << 22:
                h.update(p.detach().to(torch.float32).contiguous().numpy().tobytes()[:4096])
    return h.hexdigest()[:16]


class RequestError(ValueError):
    """A run request that cannot be served; the message goes back to the client."""


SessionKey = tuple[int, int, int]  # (connection id, client id, session number)


class _Session:
    __slots__ = ("nbytes", "state", "used")

    def __init__(self) -> None:
        self.state: dict[str, torch.Tensor] = {}
        self.nbytes = 0
        self.used = time.monotonic()


def _nbytes(state: dict[str, torch.Tensor]) -> int:
    return sum(int(v.numel()) * v.element_size() for v in state.values() if hasattr(v, "numel"))


class StageService:
    """The ``run`` and ``close`` handlers: execute stage ranges of ``model`` in client sessions.

    Args:
        max_sessions: open sessions in all.
        max_session_bytes: tensor bytes one session may hold (bytes); a run that would exceed it
            fails with an error reply and drops the session.
        max_total_session_bytes: tensor bytes all sessions may hold (bytes); least recently used
            sessions are evicted to stay below it.
        session_ttl_s: a session unused this long is dropped (s).
    """

    def __init__(
        self,
        model: StagedModel,
        max_sessions: int = 256,
        max_session_bytes: int = 256 * 2**20,
        max_total_session_bytes: int = 2 * 2**30,
        session_ttl_s: float = 60.0,
    ) -> None:
        self.model = model
        self.specs = model.stages()
        self.fingerprint = model_fingerprint(model)
        self.max_sessions = max_sessions
        self.max_session_bytes = max_session_bytes
        self.max_total_session_bytes = max_total_session_bytes
        self.session_ttl_s = session_ttl_s
        self._sessions: OrderedDict[SessionKey, _Session] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def handlers(self) -> dict[str, Any]:
        return {"run": self.run, "close": self.close}

    def health_info(self) -> dict[str, object]:
        return {"fingerprint": self.fingerprint, "stages": len(self.specs)}

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    @property
    def session_bytes(self) -> int:
        """Tensor bytes held by all sessions (bytes)."""
        return self._bytes

    def close(self, msg: Message) -> Message:
        try:
            self._drop(self._key(msg))
        except RequestError as e:
            return Message("error", meta={"error": str(e)})
        return Message("closed")

    def connection_closed(self, conn_id: int) -> None:
        """Drop every session of connection ``conn_id`` (its peer is gone)."""
        with self._lock:
            for key in [k for k in self._sessions if k[0] == conn_id]:
                self._bytes -= self._sessions.pop(key).nbytes

    def run(self, msg: Message) -> Message:
        try:
            key = self._key(msg)
            start, end, return_keys, close = self._parse_range(msg.meta)
        except RequestError as e:
            return Message("error", meta={"error": str(e)})
        session = self._session(key)
        state = session.state
        state.update(msg.torch_tensors())
        try:
            missing = self._missing_inputs(state, start, end)
            if missing:
                raise RequestError(f"stages [{start}, {end}) read keys never sent: {missing}")
            with torch.no_grad():
                for spec in self.specs[start:end]:
                    state.update(self.model.run_stage(spec, state))
            absent = [k for k in return_keys if k not in state]
            if absent:
                raise RequestError(f"return_keys not produced by stages [{start}, {end}): {absent}")
            self._account(key, session)
        except RequestError as e:
            self._drop(key)
            return Message("error", meta={"error": str(e)})
        except Exception:
            self._drop(key)  # a half-run session must not be reused
            raise
        out = {k: state[k] for k in return_keys}
        if close:
            self._drop(key)
        return Message("result", tensors=out)

    # ------------------------------------------------------------- helpers
    @staticmethod
    def _key(msg: Message) -> SessionKey:
        meta = msg.meta
        try:
            return int(msg.origin), int(meta.get("client", 0)), int(meta["session"])
        except (KeyError, TypeError, ValueError) as e:
            raise RequestError(f"meta needs an integer session (and client id): {e}") from e

    def _parse_range(self, meta: dict[str, Any]) -> tuple[int, int, list[str], bool]:
        try:
            start, end = int(meta["start"]), int(meta["end"])
            return_keys = [str(k) for k in meta.get("return_keys", [])]
            close = bool(meta.get("close", False))
        except (KeyError, TypeError, ValueError) as e:
            raise RequestError(
                f"run meta needs start, end (ints) and return_keys (strs): {e}"
            ) from e
        if not 0 <= start < end <= len(self.specs):
            raise RequestError(f"stage range [{start}, {end}) outside [0, {len(self.specs)}]")
        return start, end, return_keys, close

    def _expire(self, now: float) -> None:
        """Drop sessions unused for ``session_ttl_s`` (caller holds the lock)."""
        while self._sessions:
            key, oldest = next(iter(self._sessions.items()))
            if now - oldest.used <= self.session_ttl_s:
                return
            self._bytes -= self._sessions.pop(key).nbytes
            log.info("session %s expired (unused for %.0f s)", key, now - oldest.used)

    def _session(self, key: SessionKey) -> _Session:
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            if key not in self._sessions:
                while len(self._sessions) >= self.max_sessions:
                    evicted, old = self._sessions.popitem(last=False)
                    self._bytes -= old.nbytes
                    log.warning(
                        "session %s evicted (more than %d open)", evicted, self.max_sessions
                    )
                self._sessions[key] = _Session()
            self._sessions.move_to_end(key)
            session = self._sessions[key]
            session.used = now
            return session

    def _account(self, key: SessionKey, session: _Session) -> None:
        nbytes = _nbytes(session.state)
        if nbytes > self.max_session_bytes:
            raise RequestError(
                f"session holds {nbytes} bytes; allowed: max_session_bytes={self.max_session_bytes}"
            )
        with self._lock:
            if self._sessions.get(key) is not session:
                return  # dropped meanwhile (connection closed, evicted)
            self._bytes += nbytes - session.nbytes
            session.nbytes = nbytes
            while self._bytes > self.max_total_session_bytes and len(self._sessions) > 1:
                evicted, old = next(iter(self._sessions.items()))
                if old is session:
                    break
                self._bytes -= self._sessions.pop(evicted).nbytes
                log.warning(
                    "session %s evicted (sessions hold more than %d bytes)",
                    evicted,
                    self.max_total_session_bytes,
                )

    def _drop(self, key: SessionKey) -> None:
        with self._lock:
            old = self._sessions.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes

    def _missing_inputs(self, state: dict[str, torch.Tensor], start: int, end: int) -> list[str]:
        written: set[str] = set()
        missing: set[str] = set()
        for s in self.specs[start:end]:
            missing.update(k for k in s.reads if k not in written and k not in state)
            written.update(s.writes)
        return sorted(missing)


class StageServer:
    """A ``FrameServer`` serving a ``StageService`` (context manager; ``stop()`` to end).

    Args:
        model: the staged VLA (same weights as the edge's; compare fingerprints via ``health``).
        codec: frame codec holding the shared secret.
        host, port: where to listen when no ``listen_sock`` is given (port 0: any free port).
        listen_sock: a bound listening socket (e.g. ``link.listen()`` inside a network namespace).
        config: the frame server's resource limits (connections, workers, timeouts, budgets).
        read_timeout_s: idle connections are closed after this long (s).
    """

    def __init__(
        self,
        model: StagedModel,
        codec: Codec,
        host: str = "127.0.0.1",
        port: int = 0,
        listen_sock: socket.socket | None = None,
        read_timeout_s: float = 300.0,
        max_sessions: int = 256,
        config: ServerConfig | None = None,
    ) -> None:
        self.service = StageService(model, max_sessions)
        self.config = config
        self.codec = codec
        self._listen = listen_sock
        self._host, self._port = host, port
        self.read_timeout_s = read_timeout_s
        self.frames: FrameServer | None = None

    @property
    def address(self) -> tuple[str, int]:
        if self.frames is None:
            raise RuntimeError("server not started")
        return self.frames.address

    @property
    def stats(self) -> Any:
        return self.frames.stats if self.frames is not None else None

    def start(self) -> tuple[str, int]:
        # A deep backlog: bursts of connects wait in the kernel instead of in SYN retries.
        sock = self._listen or socket.create_server(
            (self._host, self._port), reuse_port=False, backlog=1024
        )
        self.frames = FrameServer(
            self.codec,
            self.service.handlers(),
            listen_sock=sock,
            read_timeout_s=self.read_timeout_s if self.config is None else None,
            health_info={**self.service.health_info(), "protocol": "vecc/2 aes-256-gcm"},
            config=self.config,
            on_close=self.service.connection_closed,
        )
        log.info(
            "stage server on %s:%d (model %s, %d stages)",
            *self.address,
            self.service.fingerprint,
            len(self.service.specs),
        )
        return self.address

    def stop(self) -> None:
        if self.frames is not None:
            self.frames.close()
            self.frames = None

    def __enter__(self) -> StageServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
