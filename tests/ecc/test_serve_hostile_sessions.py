"""Hostile clients against a real `python -m ecc.serve`: replays, foreign sessions, session
limits, and the edge under a server that answers badly (issue 22's attacks as tests)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
import torch

from agents.zoo import build_model
from ecc.emulated.client import probe_output_keys
from ecc.wire import Message
from ecc.wire import errors as E
from ecc.wire.codec import PREFIX_BYTES
from ecc.wire.handshake import expect
from ecc.wire.transport import Client, FramedSocket
from tests.ecc.hostile_serve import (
    CODEC,
    FAST,
    SHAPE,
    ServeProcess,
    closed_by_peer,
    handshake,
    oft_inputs,
    requests_served,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = ServeProcess(tmp_path_factory.mktemp("serve"), "--log-level", "INFO")
    yield srv
    srv.stop()


# ------------------------------------------------------------------ replays and sessions


def test_no_replay_is_accepted(server: ServeProcess) -> None:
    def original(i: int) -> tuple[socket.socket, FramedSocket, bytes, bytes]:
        s, fs, stream = handshake(server.address)
        frame = CODEC.encode(Message("close", i, meta={"session": i}), channel=fs.channel)
        s.sendall(frame)
        assert fs.recv().type == "closed"
        return s, fs, stream, frame

    before = requests_served(server)
    replays = 0
    originals = 0
    for i in range(8):  # a new connection: the whole captured byte stream, handshake included
        s, _, stream, frame = original(i)
        originals += 1
        s.close()
        with socket.create_connection(server.address, timeout=5.0) as r:
            r.sendall(stream + frame)
            replays += 1
            assert closed_by_peer(r)
    for i in range(8):  # the same connection
        s, _, _, frame = original(100 + i)
        originals += 1
        s.sendall(frame)
        replays += 1
        assert closed_by_peer(s)
        s.close()
    s, _, _, frame = original(200)  # pipelined: nine copies at once behind the original
    originals += 1
    s.sendall(frame * 9)
    replays += 9
    assert closed_by_peer(s)
    s.close()
    accepted = requests_served(server) - before - originals
    print(f"replays accepted: {accepted} of {replays}")
    assert replays == 25
    assert accepted == 0
    assert "ReplayedFrame" in server.log()


def test_another_peer_cannot_read_or_close_a_session(server: ServeProcess) -> None:
    torch.manual_seed(0)
    model = build_model(SHAPE).eval()
    inputs = oft_inputs(model)
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
    inputs = oft_inputs(model)
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
    state = {k: v.contiguous() for k, v in model.init_state(oft_inputs(model)).items()}
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
