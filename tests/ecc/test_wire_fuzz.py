"""Hypothesis fuzzing of the frame decoder: only ProtocolError, never a crash or a hang."""

from __future__ import annotations

import contextlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecc.wire import Codec, Message
from ecc.wire.errors import ProtocolError

SECRET = b"fuzz-secret-0123456789abcdef"
CODEC = Codec(SECRET, max_frame_bytes=1 << 20, max_header_bytes=1 << 16)
# A codec with the secret "known" to the attacker shows the post-HMAC parser is robust too.
VALID = CODEC.encode(
    Message(
        "state",
        3,
        {"h": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "ids": np.arange(5)},
        {"k": [1, 2]},
    )
)
# No per-example deadline: a wall-clock bound fails on a loaded machine without a bug (hangs are
# still caught by the socket timeouts below and by the suite's own timeout).
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        CODEC.decode(data)


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    _decode(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_after_valid_prefix(data: bytes) -> None:
    _decode(VALID[:28] + data)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=8))
def test_mutated_valid_frame_is_rejected(edits: list[tuple[int, int]]) -> None:
    frame = bytearray(VALID)
    for i, b in edits:
        frame[i] = b
    if bytes(frame) == VALID:
        assert CODEC.decode(bytes(frame)).type == "state"
    else:
        try:
            CODEC.decode(bytes(frame))
        except ProtocolError:
            return
        raise AssertionError("a mutated frame was accepted")


def _signed(header_raw: bytes, body: bytes) -> bytes:
    return CODEC.seal_raw(header_raw, body)


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.floats(),
)
_value = st.recursive(
    _scalar,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=4),
    max_leaves=20,
)
_entry = st.fixed_dictionaries(
    {
        "n": st.text(max_size=4),
        "d": st.sampled_from(["float32", "int64", "bfloat16", "object", "<f4"]),
        "s": st.lists(st.integers(-2, 2**50), max_size=4),
        "o": st.integers(-8, 300),
        "b": st.integers(-8, 300),
    },
    optional={"c": st.sampled_from(["fp16", "int8", "none", "lz4"])},
)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"t": _value, "id": _value, "m": _value, "x": st.lists(_entry, max_size=4) | _value}
    ),
    st.binary(max_size=256),
)
def test_authenticated_structured_headers(header: dict, body: bytes) -> None:
    import msgpack

    _decode(_signed(msgpack.packb(header, use_bin_type=True), body))


@FUZZ
@given(st.binary(max_size=512), st.binary(max_size=256))
def test_authenticated_garbage_headers(header_raw: bytes, body: bytes) -> None:
    _decode(_signed(header_raw, body))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_stream_reader_never_hangs_on_garbage(data: bytes) -> None:
    """Random bytes then EOF: the framed reader ends with an error (or a valid frame), promptly."""
    import socket

    from ecc.wire.errors import TransportError
    from ecc.wire.secure import Channel
    from ecc.wire.transport import FramedSocket

    a, b = socket.socketpair()
    reader = FramedSocket(a, CODEC, read_timeout_s=1.0, channel=Channel.offline(SECRET))
    b.sendall(data)
    b.close()
    try:
        reader.recv()
    except (ProtocolError, TransportError):
        pass
    finally:
        reader.close()


_SERVER: dict = {}


def _fuzz_server():
    """One in-process server for all examples (started on first use, lives for the session)."""
    if "srv" not in _SERVER:
        from ecc.wire.server import FrameServer, ServerConfig

        cfg = ServerConfig(handshake_timeout_s=1.0, frame_timeout_s=1.0)
        _SERVER["srv"] = FrameServer(
            CODEC, {"echo": lambda m: Message("r", tensors=m.tensors)}, config=cfg
        )
    return _SERVER["srv"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.binary(max_size=600))
def test_server_survives_garbage_before_and_after_the_handshake(authed: bool, data: bytes) -> None:
    """Random bytes from a raw peer (anonymous, or after a valid handshake): the server drops
    or ignores it and keeps serving an honest client."""
    import socket

    from ecc.wire.transport import Client, TransportConfig, connect

    srv = _fuzz_server()
    cfg = TransportConfig(connect_timeout_s=2.0, read_timeout_s=5.0, retries=1)
    if authed:
        conn = connect(srv.address, CODEC, cfg)
        s = conn.sock
    else:
        s = socket.create_connection(srv.address, timeout=2.0)
    with contextlib.suppress(OSError):
        s.sendall(data)
    s.close()
    with Client(srv.address, CODEC, cfg) as client:
        assert client.request(Message("health")).meta["status"] == "ok"
        x = np.arange(7, dtype=np.float32)
        np.testing.assert_array_equal(
            client.request(Message("echo", tensors={"x": x})).tensors["x"], x
        )
