"""Hostile clients against a real `python -m ecc.serve` on loopback (issue 22's attacks as tests).

Each attack is bounded in count and time. Wall-clock bounds here are liveness deadlines (the
server must answer at all, seconds apart from any speed claim); the one latency ratio is under
the ``timing`` marker (``python -m pytest -m timing``).
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.zoo import build_model
from ecc.emulated.client import probe_output_keys
from ecc.wire import Codec, Message
from ecc.wire import errors as E
from ecc.wire.codec import KIND_SERVER_HELLO, MAGIC, PREFIX, PREFIX_BYTES, PROTOCOL_VERSION
from ecc.wire.handshake import ClientHandshake, expect
from ecc.wire.transport import Client, FramedSocket, TransportConfig, free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hostile-suite-shared-secret-0123456789"
CODEC = Codec(SECRET)
FAST = TransportConfig(connect_timeout_s=2.0, read_timeout_s=10.0, retries=2, backoff_s=0.1)
SHAPE = "oft-tiny"


class ServeProcess:
    """`python -m ecc.serve` in a subprocess, with its stderr in a file."""

    def __init__(self, tmp: Path, *extra: str, nofile: int | None = None) -> None:
        port = free_port()
        self.log_path = tmp / f"serve-{port}.log"
        env = {**os.environ, "VECC_WIRE_SECRET": SECRET}

        def limit() -> None:  # in the child, before exec: a hard cap on its descriptors
            if nofile is not None:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ecc.serve", "--shape", SHAPE, "--port", str(port), *extra],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                preexec_fn=limit,
            )
        line = self.proc.stdout.readline()
        assert "serving" in line, (line, self.log())
        self.address = ("127.0.0.1", port)

    def log(self) -> str:
        return self.log_path.read_text()

    def status(self, field: str) -> int:
        """A field of /proc/<pid>/status (VmRSS in kB, Threads, ...)."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+)", text, re.M).group(1))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def health(self) -> dict:
        with Client(self.address, CODEC, FAST) as c:
            return c.request(Message("health"), idempotent=True).meta

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = ServeProcess(tmp_path_factory.mktemp("serve"), "--log-level", "INFO")
    yield srv
    srv.stop()


@contextlib.contextmanager
def _nofile(n: int):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(n, soft), hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _closed_by_peer(s: socket.socket, timeout_s: float = 10.0) -> bool:
    s.settimeout(timeout_s)
    try:
        while True:
            if s.recv(4096) == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


# ------------------------------------------------------------------ descriptors and connections
def test_accept_survives_fd_exhaustion_and_serves_a_client_after(tmp_path: Path) -> None:
    # A cap above the descriptor limit, so accept() really fails with EMFILE, and a handshake
    # timeout long enough that all 1100 idle connections are open at once.
    srv = ServeProcess(
        tmp_path, "--max-connections", "4096", "--handshake-timeout-s", "60", nofile=1024
    )
    socks: list[socket.socket] = []
    try:
        with _nofile(4096):
            for _ in range(1100):
                with contextlib.suppress(OSError):
                    socks.append(socket.create_connection(srv.address, timeout=5.0))
            deadline = time.monotonic() + 10
            while "EMFILE" not in srv.log() and time.monotonic() < deadline:
                time.sleep(0.05)
            for s in socks:
                s.close()
        t0 = time.perf_counter()
        deadline = time.monotonic() + 20  # liveness: the old server never answered again
        while True:
            try:
                health = srv.health()
                break
            except E.WireError:
                assert time.monotonic() < deadline, srv.log()[-2000:]
                time.sleep(0.1)
        served_s = time.perf_counter() - t0
        print(f"after 1100 idle connections: served in {served_s:.3f} s")
        log = srv.log()
        assert len(socks) >= 1000
        assert "EMFILE" in log  # the failure happened, was logged, and accept went on
        assert health["status"] == "ok"
        assert srv.proc.poll() is None
    finally:
        for s in socks:
            s.close()
        srv.stop()


def test_unauthenticated_connections_cost_no_body_memory(server: ServeProcess) -> None:
    rss0 = server.status("VmRSS")
    big = PREFIX.pack(MAGIC, PROTOCOL_VERSION, 0, 0, 2**20, 64 * 2**20 - 2**20 - 64, 0)
    hello_prefix = PREFIX.pack(MAGIC, PROTOCOL_VERSION, 1, 0, 32, 0, 0)
    socks = []
    for i in range(16):
        s = socket.create_connection(server.address, timeout=5.0)
        # half announce a 64 MiB data frame, half start a handshake and stop mid-way
        s.sendall(big[:20] if i % 2 else hello_prefix + b"x" * 5)
        socks.append(s)
    time.sleep(0.5)
    rss1 = server.status("VmRSS")
    for s in socks:
        s.close()
    grown_mib = (rss1 - rss0) / 1024
    print(f"16 unauthenticated connections: RSS +{grown_mib:.2f} MiB")
    assert grown_mib < 16


def test_slowloris_does_not_grow_threads_and_times_out(server: ServeProcess) -> None:
    server.health()  # warm: the worker pool has started
    threads0, fds0 = server.status("Threads"), server.fds()
    socks = []
    for _ in range(300):  # more than the 256-connection cap
        s = socket.create_connection(server.address, timeout=5.0)
        s.sendall(MAGIC[:2])  # a valid start, then nothing
        socks.append(s)
    time.sleep(0.3)
    threads1, fds1 = server.status("Threads"), server.fds()
    health = server.health()  # a legitimate peer still gets in (evicts an unauthenticated one)
    closed = sum(_closed_by_peer(s, timeout_s=10.0) for s in socks)  # handshake timeout: 3 s
    for s in socks:
        s.close()
    print(f"300 slowloris: threads {threads0} -> {threads1}, fds {fds0} -> {fds1}")
    assert threads1 <= threads0 + 2  # at most the lazily started second worker
    assert fds1 <= fds0 + 256 + 2  # the connection cap bounds descriptors
    assert health["status"] == "ok"
    assert closed == 300


# ------------------------------------------------------------------ replays and sessions
def _handshake(address: tuple[str, int]) -> tuple[socket.socket, FramedSocket, bytes]:
    """A legitimate connection, recording the bytes the client sent during the handshake."""
    s = socket.create_connection(address, timeout=5.0)
    hs = ClientHandshake(CODEC.secret)
    s.sendall(hs.hello)
    fs = FramedSocket(s, CODEC, 5.0)
    prefix = bytes(fs._read(PREFIX_BYTES, "prefix"))
    payload = bytes(fs._read(expect(CODEC.parse_prefix(prefix), KIND_SERVER_HELLO), "payload"))
    finish, fs.channel = hs.on_server_hello(prefix, payload)
    s.sendall(finish)
    return s, fs, hs.hello + finish


def _requests(server: ServeProcess) -> int:
    return int(server.health()["requests"])


def test_no_replay_is_accepted(server: ServeProcess) -> None:
    def original(i: int) -> tuple[socket.socket, FramedSocket, bytes, bytes]:
        s, fs, stream = _handshake(server.address)
        frame = CODEC.encode(Message("close", i, meta={"session": i}), channel=fs.channel)
        s.sendall(frame)
        assert fs.recv().type == "closed"
        return s, fs, stream, frame

    before = _requests(server)
    replays = 0
    originals = 0
    for i in range(8):  # a new connection: the whole captured byte stream, handshake included
        s, _, stream, frame = original(i)
        originals += 1
        s.close()
        with socket.create_connection(server.address, timeout=5.0) as r:
            r.sendall(stream + frame)
            replays += 1
            assert _closed_by_peer(r)
    for i in range(8):  # the same connection
        s, _, _, frame = original(100 + i)
        originals += 1
        s.sendall(frame)
        replays += 1
        assert _closed_by_peer(s)
        s.close()
    s, _, _, frame = original(200)  # pipelined: nine copies at once behind the original
    originals += 1
    s.sendall(frame * 9)
    replays += 9
    assert _closed_by_peer(s)
    s.close()
    accepted = _requests(server) - before - originals
    print(f"replays accepted: {accepted} of {replays}")
    assert replays == 25
    assert accepted == 0
    assert "ReplayedFrame" in server.log()


def _oft_inputs(model) -> dict[str, torch.Tensor]:
    s = model.shape
    g = torch.Generator().manual_seed(3)
    size = s.vision[0].image_size
    return {
        "images": torch.rand(1, s.cameras, 3, size, size, generator=g),
        "tokens": torch.randint(0, 100, (1, s.prompt_tokens), generator=g),
        "proprio": torch.randn(1, s.proprio_dim, generator=g),
    }


def test_another_peer_cannot_read_or_close_a_session(server: ServeProcess) -> None:
    torch.manual_seed(0)
    model = build_model(SHAPE).eval()
    inputs = _oft_inputs(model)
    keys = list(probe_output_keys(model, inputs))
    n = len(model.stages())
    state = {k: v.contiguous() for k, v in model.init_state(inputs).items()}
    same = {"client": 7, "session": 1}
    with (
        Client(server.address, CODEC, FAST, raise_remote_errors=False) as alice,
        Client(server.address, CODEC, FAST, raise_remote_errors=False) as mallory,
    ):
        first = alice.request(
            Message("run", tensors=state, meta={**same, "start": 0, "end": 1, "return_keys": []})
        )
        assert first.type == "result"
        rest = {**same, "start": 1, "end": n, "return_keys": keys}
        stolen = mallory.request(Message("run", meta=rest))
        mallory.request(Message("close", meta=same))  # and tries to close alice's session
        mine = alice.request(Message("run", meta={**rest, "close": True}))
    assert stolen.type == "error"
    assert "never sent" in stolen.meta["error"]
    assert not stolen.tensors
    assert mine.type == "result"
    assert set(mine.tensors) == set(keys)


# ------------------------------------------------------------------ a reader that never reads
class _Echo:
    """Clients timing whole oft-tiny inferences on the server (all stages, one round trip each):
    tens of ms, so a few ms of scheduling noise on a busy box do not decide a p99 ratio."""

    def __init__(self, server: ServeProcess) -> None:
        self.server = server
        torch.manual_seed(0)
        model = build_model(SHAPE).eval()
        inputs = _oft_inputs(model)
        self.keys = list(probe_output_keys(model, inputs))
        self.n = len(model.stages())
        self.state = {k: v.contiguous() for k, v in model.init_state(inputs).items()}

    def latencies(self, clients: int, requests: int) -> tuple[list[float], int]:
        lat: list[float] = []
        errors = [0]

        def one() -> None:
            with Client(self.server.address, CODEC, FAST, raise_remote_errors=False) as c:
                for i in range(requests):
                    meta = {"session": i, "start": 0, "end": self.n, "return_keys": self.keys}
                    t0 = time.perf_counter()
                    try:
                        reply = c.request(
                            Message("run", tensors=self.state, meta={**meta, "close": True})
                        )
                        errors[0] += reply.type != "result"
                    except E.WireError:
                        errors[0] += 1
                    lat.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=one) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return lat, errors[0]


def _never_reader(server: ServeProcess) -> tuple[socket.socket, threading.Thread]:
    """A peer pipelining requests for 1 MiB replies and never reading; returns once it is stuck.

    Stuck means its sends stopped progressing: the server stopped reading from it (pending
    requests, send queue full) and its socket buffers are full, the state that stalled the old
    server's only worker in ``send`` for up to 300 s.
    """
    s, fs, _ = _handshake(server.address)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    torch.manual_seed(0)
    model = build_model(SHAPE).eval()
    state = {k: v.contiguous() for k, v in model.init_state(_oft_inputs(model)).items()}
    state["pad"] = torch.zeros(2**18)  # 1 MiB replies are asked for, never read
    stop = threading.Event()
    sent = [0]

    def pump() -> None:
        with contextlib.suppress(OSError, E.WireError):
            for i in range(500):
                if stop.is_set():
                    return
                # `run` on stage range [0, 1) returning the sent pad: a 1 MiB reply
                meta = {"session": i, "start": 0, "end": 1, "return_keys": ["pad"], "close": True}
                fs.send(Message("run", tensors=state, meta=meta))
                sent[0] += 1

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    t.stop = stop  # type: ignore[attr-defined]
    last, deadline = -1, time.monotonic() + 20
    while sent[0] != last and t.is_alive() and time.monotonic() < deadline:
        last = sent[0]
        time.sleep(0.5)
    assert sent[0] < 500, "the server read every request: nothing was ever held back"
    return s, t


def test_a_never_reading_client_does_not_stall_the_others(server: ServeProcess) -> None:
    echo = _Echo(server)
    s, pump = _never_reader(server)
    try:
        lat, errors = echo.latencies(clients=2, requests=20)
        health = server.health()
    finally:
        pump.stop.set()  # type: ignore[attr-defined]
        s.close()
    print(f"beside a never-reader: p99 {np.percentile(lat, 99) * 1e3:.1f} ms, errors {errors}")
    assert errors == 0
    assert health["status"] == "ok"
    assert len(lat) == 40


@pytest.mark.timing
def test_never_reader_keeps_others_p99_within_2x_of_baseline(server: ServeProcess) -> None:
    echo = _Echo(server)
    echo.latencies(clients=2, requests=3)  # warm
    before, _ = echo.latencies(clients=2, requests=20)
    s, pump = _never_reader(server)
    try:
        loaded, errors = echo.latencies(clients=2, requests=40)
    finally:
        pump.stop.set()  # type: ignore[attr-defined]
        s.close()
    after, _ = echo.latencies(clients=2, requests=20)
    # The baseline brackets the loaded run, so drift in other processes' load cancels out.
    p_base, p_loaded = np.percentile(before + after, 99), np.percentile(loaded, 99)
    print(f"p99 baseline {p_base * 1e3:.1f} ms, beside a never-reader {p_loaded * 1e3:.1f} ms")
    assert errors == 0
    assert p_loaded <= 2 * p_base


# ------------------------------------------------------------------ the edge under a bad server
def _hostile_cloud(reply_header: dict) -> tuple[tuple[str, int], threading.Thread]:
    """A one-connection "server" that handshakes properly, then answers with ``reply_header``."""
    import msgpack

    from ecc.wire.codec import KIND_FINISH, KIND_HELLO
    from ecc.wire.handshake import ServerHandshake

    lsock = socket.create_server(("127.0.0.1", 0))
    lsock.settimeout(10.0)

    def serve() -> None:
        with lsock, contextlib.suppress(OSError, E.WireError):
            raw, _ = lsock.accept()
            with raw:
                fs = FramedSocket(raw, CODEC, 10.0)
                hs = ServerHandshake(CODEC.secret)
                prefix = bytes(fs._read(PREFIX_BYTES, "p"))
                hello = bytes(fs._read(expect(CODEC.parse_prefix(prefix), KIND_HELLO), "h"))
                raw.sendall(hs.on_hello(prefix, hello))
                prefix = bytes(fs._read(PREFIX_BYTES, "p"))
                finish = bytes(fs._read(expect(CODEC.parse_prefix(prefix), KIND_FINISH), "f"))
                fs.channel = hs.on_finish(finish)
                request = fs.recv()
                header = {**reply_header, "id": request.request_id}
                raw.sendall(CODEC.seal_raw(msgpack.packb(header), b"", fs.channel))
                time.sleep(1.0)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return lsock.getsockname()[:2], t


@pytest.mark.parametrize(
    ("reply_header", "reason"),
    [
        # a zero-size tensor whose dims would make numpy raise a raw ValueError
        (
            {
                "t": "result",
                "m": {},
                "x": [{"n": "h", "d": "float32", "s": [0, 2**47, 2**47], "o": 0, "b": 0}],
            },
            "ShapeMismatch",
        ),
        ({"t": "error", "m": {"error": "boom"}, "x": []}, "boom"),  # an error reply
        ({"t": "result", "m": {}, "x": []}, "lacks return keys"),  # no return keys
    ],
    ids=["huge-empty-dims", "error-reply", "missing-keys"],
)
def test_the_edge_falls_back_on_any_server_error(reply_header: dict, reason: str) -> None:
    from ecc.emulated import SplitExecutor
    from ecc.emulated.client import reference_outputs

    torch.manual_seed(0)
    model = build_model(SHAPE).eval()
    inputs = _oft_inputs(model)
    ref = reference_outputs(model, inputs)
    address, t = _hostile_cloud(reply_header)
    with Client(address, CODEC, FAST) as client:
        ex = SplitExecutor(model, client, reconnect_interval_s=60.0)
        ex.set_cut(3)
        out, timing = ex.run(inputs)
    t.join(timeout=10)
    assert timing.fallback
    assert ex.failures == 1
    assert reason in " ".join(timing.notes)
    torch.testing.assert_close(out["actions"], ref["actions"], rtol=0, atol=1e-6)


# ------------------------------------------------------------------ session limits
def test_sessions_are_byte_capped_expire_and_go_with_their_connection() -> None:
    from ecc.emulated.server import StageService

    torch.manual_seed(0)
    model = build_model(SHAPE).eval()
    state = {k: v.contiguous() for k, v in model.init_state(_oft_inputs(model)).items()}
    nbytes = sum(v.numel() * v.element_size() for v in state.values())

    arrays = {k: v.numpy().copy() for k, v in state.items()}  # as decoded off the wire

    def run(svc: StageService, origin: int, session: int) -> Message:
        msg = Message("run", tensors=arrays, meta={"session": session, "start": 0, "end": 1})
        msg.origin = origin
        return svc.run(msg)

    capped = StageService(model, max_session_bytes=nbytes // 2)
    reply = run(capped, 1, 1)
    assert reply.type == "error"
    assert "max_session_bytes" in reply.meta["error"]
    assert capped.open_sessions == 0

    probe = StageService(model)
    run(probe, 1, 0)
    per = probe.session_bytes  # inputs plus what stage 0 wrote
    assert per >= nbytes
    total = StageService(model, max_total_session_bytes=int(2.5 * per))
    for s in range(4):
        assert run(total, 1, s).type == "result"
    assert total.open_sessions == 2  # the least recently used went to stay under the cap
    assert total.session_bytes <= 2.5 * per

    ttl = StageService(model, session_ttl_s=0.05)
    run(ttl, 1, 1)
    time.sleep(0.1)
    run(ttl, 2, 1)  # another connection's session; the old one has expired meanwhile
    assert ttl.open_sessions == 1
    ttl.connection_closed(2)
    assert ttl.open_sessions == 0
    assert ttl.session_bytes == 0
