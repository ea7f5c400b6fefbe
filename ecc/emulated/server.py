"""Cloud stage server: runs the cloud segments of a split VLA for any number of edge clients.

One thread per connection reads and validates frames; inference runs on a single worker thread, so
a slow forward never blocks the network loop (health checks are answered while it runs). Every reply
carries the server's own compute time (ms), as openpi's server does. A bad frame is logged with its
reason and that connection is closed (the byte stream can no longer be trusted); other clients are
unaffected.

Messages (``Message.type``):
    health  -> health_ok   meta: model fingerprint, stage count, active sessions
    run     -> result      meta: session, start, end, return_keys, close; tensors: the segment's inputs
                           reply meta: compute_ms (ms); tensors: return_keys
    close   -> closed      drops a session
    anything else, or a run that fails -> error  meta: reason
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import torch

from agents.staged import StagedModel
from ecc.wire import Codec, Message
from ecc.wire import errors as wire_errors
from ecc.wire.transport import FramedSocket

log = logging.getLogger(__name__)

MAX_SESSIONS_PER_CONNECTION = 16


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


@dataclass
class _Job:
    state: dict[str, torch.Tensor]
    start: int
    end: int
    future: Future


class StageServer:
    """Serves ``run`` requests for stage ranges of ``model``.

    Args:
        model: the staged VLA (same weights as the edge's; checked by fingerprint on ``health``).
        codec: frame codec holding the shared secret.
        host, port: where to listen (port 0 picks a free port; read ``address`` after ``start``).
        read_timeout_s: an idle connection is dropped after this long (s).
        socket_factory: creates the listening socket (e.g. inside a network namespace).
    """

    def __init__(
        self,
        model: StagedModel,
        codec: Codec,
        host: str = "127.0.0.1",
        port: int = 0,
        read_timeout_s: float = 300.0,
        socket_factory: Callable[[], socket.socket] | None = None,
    ) -> None:
        self.model = model
        self.codec = codec
        self.host, self.port = host, port
        self.read_timeout_s = read_timeout_s
        self.socket_factory = socket_factory or (
            lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        )
        self.specs = model.stages()
        self.fingerprint = model_fingerprint(model)
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: set[FramedSocket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.stats = {"requests": 0, "rejected_frames": 0, "errors": 0, "closed_connections": 0}

    # ------------------------------------------------------------ lifecycle
    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def start(self) -> tuple[str, int]:
        sock = self.socket_factory()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        sock.settimeout(0.2)  # lets the accept loop notice stop()
        self._listener = sock
        self.port = sock.getsockname()[1]
        for target, name in ((self._accept_loop, "accept"), (self._worker_loop, "worker")):
            t = threading.Thread(target=target, name=f"stage-server-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        log.info(
            "stage server on %s:%d (model %s, %d stages)",
            self.host,
            self.port,
            self.fingerprint,
            len(self.specs),
        )
        return self.address

    def stop(self) -> None:
        self._stop.set()
        self._jobs.put(None)
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        with self._lock:
            for c in list(self._conns):
                c.close()
        for t in self._threads:
            t.join(timeout=5)

    def serve_forever(self) -> None:
        self.start()
        try:
            while not self._stop.is_set():
                time.sleep(0.5)
        finally:
            self.stop()

    def __enter__(self) -> StageServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --------------------------------------------------------------- threads
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn = FramedSocket(raw, self.codec, self.read_timeout_s)
            with self._lock:
                self._conns.add(conn)
            threading.Thread(
                target=self._serve_connection, args=(conn,), daemon=True, name=f"conn-{conn.peer}"
            ).start()

    def _worker_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                t0 = time.perf_counter()
                with torch.no_grad():
                    for spec in self.specs[job.start : job.end]:
                        job.state.update(self.model.run_stage(spec, job.state))
                job.future.set_result((time.perf_counter() - t0) * 1e3)
            except Exception as e:
                job.future.set_exception(e)

    def _serve_connection(self, conn: FramedSocket) -> None:
        sessions: dict[int, dict[str, torch.Tensor]] = {}
        try:
            while not self._stop.is_set():
                try:
                    msg = conn.recv()
                except wire_errors.ProtocolError:
                    self.stats["rejected_frames"] += 1
                    return  # already logged with its reason; the stream is out of sync
                except wire_errors.TransportError as e:
                    log.info(
                        "connection from %s ended: %s", conn.peer, e
                    )  # closed, idle or cut mid-frame
                    return
                reply = self._handle(msg, sessions)
                try:
                    conn.send(reply)
                except wire_errors.TransportError:
                    return
        finally:
            conn.close()
            with self._lock:
                self._conns.discard(conn)
                self.stats["closed_connections"] += 1

    # -------------------------------------------------------------- handling
    def _handle(self, msg: Message, sessions: dict[int, dict[str, torch.Tensor]]) -> Message:
        rid = msg.request_id
        if msg.type == "health":
            meta = {
                "fingerprint": self.fingerprint,
                "stages": len(self.specs),
                "sessions": len(sessions),
            }
            return Message("health_ok", rid, meta=meta)
        if msg.type == "close":
            sessions.pop(int(msg.meta.get("session", -1)), None)
            return Message("closed", rid)
        if msg.type != "run":
            return self._error(rid, f"message type={msg.type!r}; allowed: health, run, close")
        try:
            session, start, end, return_keys, close = self._parse_run(msg.meta)
        except ValueError as e:
            return self._error(rid, str(e))
        if session not in sessions and len(sessions) >= MAX_SESSIONS_PER_CONNECTION:
            return self._error(rid, f"too many open sessions (max {MAX_SESSIONS_PER_CONNECTION})")
        state = sessions.setdefault(session, {})
        state.update(msg.torch_tensors())
        missing = self._missing_inputs(state, start, end)
        if missing:
            sessions.pop(session, None)
            return self._error(rid, f"stages {start}..{end} read keys never sent: {missing}")
        self.stats["requests"] += 1
        future: Future = Future()
        self._jobs.put(_Job(state, start, end, future))
        try:
            compute_ms = future.result()
        except Exception as e:
            sessions.pop(session, None)
            return self._error(rid, f"stage execution failed: {type(e).__name__}: {e}")
        absent = [k for k in return_keys if k not in state]
        if absent:
            sessions.pop(session, None)
            return self._error(rid, f"return_keys not produced: {absent}")
        out = {k: state[k] for k in return_keys}
        if close:
            sessions.pop(session, None)
        return Message("result", rid, tensors=out, meta={"compute_ms": compute_ms})

    def _parse_run(self, meta: dict[str, Any]) -> tuple[int, int, int, list[str], bool]:
        try:
            session = int(meta["session"])
            start, end = int(meta["start"]), int(meta["end"])
            return_keys = [str(k) for k in meta.get("return_keys", [])]
            close = bool(meta.get("close", False))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(
                f"run meta needs session, start, end (ints) and return_keys (strs): {e}"
            ) from e
        if not 0 <= start < end <= len(self.specs):
            raise ValueError(f"stage range [{start}, {end}) outside [0, {len(self.specs)}]")
        return session, start, end, return_keys, close

    def _missing_inputs(self, state: dict[str, torch.Tensor], start: int, end: int) -> list[str]:
        written: set[str] = set()
        missing: list[str] = []
        for s in self.specs[start:end]:
            missing += [k for k in s.reads if k not in written and k not in state]
            written.update(s.writes)
        return sorted(set(missing))

    def _error(self, rid: int, reason: str) -> Message:
        self.stats["errors"] += 1
        log.warning("request %d rejected: %s", rid, reason)
        return Message("error", rid, meta={"reason": reason})
