"""Hostile clients against a real `python -m ecc.serve` on loopback (issue 22's attacks as tests).

Each attack is bounded in count and time. Wall-clock bounds here are liveness deadlines (the
server must answer at all, seconds apart from any speed claim); the one latency ratio is under
the ``timing`` marker (``python -m pytest -m timing``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.zoo import build_model
from ecc.emulated.client import probe_output_keys
from ecc.wire import Message
from ecc.wire import errors as E
from ecc.wire.codec import MAGIC, PREFIX, PROTOCOL_VERSION
from ecc.wire.transport import Client
from tests.ecc.hostile_serve import (
    CODEC,
    FAST,
    SHAPE,
    ServeProcess,
    closed_by_peer,
    handshake,
    nofile,
    oft_inputs,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = ServeProcess(tmp_path_factory.mktemp("serve"), "--log-level", "INFO")
    yield srv
    srv.stop()


# ------------------------------------------------------------------ descriptors and connections
def test_accept_survives_fd_exhaustion_and_serves_a_client_after(tmp_path: Path) -> None:
    # A cap above the descriptor limit, so accept() really fails with EMFILE, and a handshake
    # timeout long enough that all 1100 idle connections are open at once.
    srv = ServeProcess(
        tmp_path, "--max-connections", "4096", "--handshake-timeout-s", "60", nofile=1024
    )
    socks: list[socket.socket] = []
    try:
        with nofile(4096):
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
    closed = sum(closed_by_peer(s, timeout_s=10.0) for s in socks)  # handshake timeout: 3 s
    for s in socks:
        s.close()
    print(f"300 slowloris: threads {threads0} -> {threads1}, fds {fds0} -> {fds1}")
    assert threads1 <= threads0 + 2  # at most the lazily started second worker
    assert fds1 <= fds0 + 256 + 2  # the connection cap bounds descriptors
    assert health["status"] == "ok"
    assert closed == 300


# ------------------------------------------------------------------ a reader that never reads
class _Echo:
    """Clients timing whole oft-tiny inferences on the server (all stages, one round trip each):
    tens of ms, so a few ms of scheduling noise on a busy box do not decide a p99 ratio."""

    def __init__(self, server: ServeProcess) -> None:
        self.server = server
        torch.manual_seed(0)
        model = build_model(SHAPE).eval()
        inputs = oft_inputs(model)
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
    s, fs, _ = handshake(server.address)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    torch.manual_seed(0)
    model = build_model(SHAPE).eval()
    state = {k: v.contiguous() for k, v in model.init_state(oft_inputs(model)).items()}
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
