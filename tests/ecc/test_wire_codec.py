"""Round trips and rejections of the wire codec."""

from __future__ import annotations

import logging

import msgpack
import numpy as np
import pytest
import torch

from ecc.wire import Codec, Message
from ecc.wire import errors as E
from ecc.wire.codec import ALIGN, DTYPES, PREFIX, PREFIX_BYTES, secret_from_env
from ecc.wire.secure import TAG_BYTES, Channel

SECRET = b"test-secret-0123456789abcdef"


@pytest.fixture
def codec() -> Codec:
    return Codec(SECRET, max_frame_bytes=8 * 2**20)


def _arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, dt in DTYPES.items():
        if name == "bfloat16":
            continue
        if dt.kind == "b":
            out[name] = rng.random((3, 4)) > 0.5
        elif dt.kind == "f":
            out[name] = rng.standard_normal((2, 3, 5)).astype(dt)
        else:
            info = np.iinfo(dt)
            out[name] = rng.integers(info.min, info.max, size=(7,), dtype=dt, endpoint=True)
    out["empty"] = np.zeros((0, 4), np.float32)
    out["scalar"] = np.array(3.25, np.float64)
    out["large"] = rng.standard_normal((256, 1024)).astype(np.float32)
    out["noncontig"] = rng.standard_normal((8, 6)).astype(np.float32)[:, ::2]
    return out


def test_round_trip_every_dtype_exact(codec: Codec) -> None:
    rng = np.random.default_rng(0)
    arrays = _arrays(rng)
    msg = Message("state", 2**63 + 5, arrays, {"step": 3, "name": "x", "f": 0.5, "l": [1, None]})
    out = codec.decode(codec.encode(msg))
    assert (out.type, out.request_id) == ("state", 2**63 + 5)
    assert out.meta == msg.meta
    assert list(out.tensors) == list(arrays)
    for k, a in arrays.items():
        assert out.tensors[k].dtype == a.dtype.newbyteorder("<") or out.tensors[k].dtype == a.dtype
        assert out.tensors[k].shape == a.shape
        np.testing.assert_array_equal(out.tensors[k], a)


def test_round_trip_torch_including_bfloat16(codec: Codec) -> None:
    torch.manual_seed(0)
    state = {
        "h": torch.randn(2, 9, 16),
        "hb": torch.randn(2, 9, 16).to(torch.bfloat16),
        "ids": torch.randint(0, 32000, (2, 9)),
        "mask": torch.ones(2, 9, dtype=torch.bool),
    }
    out = codec.decode(codec.encode(Message("state", 1, state))).torch_tensors()
    for k, t in state.items():
        assert out[k].dtype == t.dtype
        assert torch.equal(out[k], t)


def test_decoded_tensors_are_aligned_views_of_one_buffer(codec: Codec) -> None:
    msg = Message("s", 0, {"a": np.arange(3, dtype=np.float32), "b": np.arange(100.0)})
    out = codec.decode(codec.encode(msg))
    a, b = out.tensors["a"], out.tensors["b"]
    assert a.flags.writeable
    assert b.flags.writeable
    assert a.base is not None
    assert (b.ctypes.data - a.ctypes.data) % ALIGN == 0
    assert b.ctypes.data - a.ctypes.data == ALIGN  # the decrypted body, not copies


def test_encode_buffers_equal_encode(codec: Codec) -> None:
    msg = Message("s", 9, {"a": np.ones((3, 3), np.float16), "b": np.arange(5)})
    assert b"".join(codec.encode_buffers(msg)) == codec.encode(msg)


@pytest.mark.parametrize(
    ("kind", "tol"),
    [("fp16", 1e-3), ("int8", 1.0 / 127)],
)
def test_compression_round_trip_within_error(codec: Codec, kind: str, tol: float) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 64, 128)).astype(np.float32)
    x[0, 3] *= 50  # an outlier token must not hurt the others under per-token scales
    frame = codec.encode(Message("s", 0, {"h": x, "ids": np.arange(4)}), compress={"h": kind})
    out = codec.decode(frame)
    assert out.tensors["h"].dtype == np.float32
    err = np.abs(out.tensors["h"] - x)
    row_peak = np.abs(x).max(axis=-1, keepdims=True)
    assert np.all(err <= tol * row_peak + 1e-6)
    np.testing.assert_array_equal(out.tensors["ids"], np.arange(4))
    assert len(frame) < x.nbytes * (0.55 if kind == "fp16" else 0.3)


def test_compression_report_and_default_policy() -> None:
    from ecc.wire import compression_report

    x = np.random.default_rng(2).standard_normal((16, 256)).astype(np.float32)
    rep8 = compression_report(x, "int8")
    rep16 = compression_report(x, "fp16")
    assert 0 < rep16.max_abs < rep8.max_abs < 0.05
    assert rep8.ratio > 3.5
    assert 1.9 < rep16.ratio <= 2.0
    assert compression_report(x, "none").max_abs == 0.0
    c = Codec(SECRET, compression="int8", min_compress_elems=100)
    out = c.decode(c.encode(Message("s", 0, {"big": x, "small": x[0, :10].copy()})))
    np.testing.assert_array_equal(out.tensors["small"], x[0, :10])  # below threshold: exact
    assert not np.array_equal(out.tensors["big"], x)


def test_int8_handles_zero_rows_and_fp16_saturates(codec: Codec) -> None:
    x = np.zeros((3, 8), np.float32)
    x[1] = 1e6
    out = codec.decode(codec.encode(Message("s", 0, {"z": x}), compress={"z": "int8"}))
    np.testing.assert_array_equal(out.tensors["z"], x)
    out = codec.decode(codec.encode(Message("s", 0, {"z": x}), compress={"z": "fp16"}))
    assert np.isfinite(out.tensors["z"]).all()


# ---------------------------------------------------------------- rejections
def _frame(codec: Codec) -> bytes:
    return codec.encode(Message("s", 1, {"a": np.arange(16, dtype=np.float32).reshape(4, 4)}))


def _open(frame: bytes) -> tuple[bytes, bytes]:
    """(plain header bytes, plain body bytes) of an offline-sealed frame."""
    _, _, _, _, hlen, blen, seq = PREFIX.unpack_from(frame, 0)
    ch = Channel.offline(SECRET)
    prefix = frame[:PREFIX_BYTES]
    header = bytearray(hlen - TAG_BYTES)
    ch.open_into(
        0,
        seq,
        prefix,
        memoryview(frame)[PREFIX_BYTES : PREFIX_BYTES + hlen],
        memoryview(header),
        "h",
    )
    body = bytearray(max(blen - TAG_BYTES, 0))
    if blen:
        ch.open_into(
            1, seq, prefix, memoryview(frame)[PREFIX_BYTES + hlen :], memoryview(body), "b"
        )
    return bytes(header), bytes(body)


def _reseal(frame: bytes, header: dict | None = None, secret: bytes = SECRET) -> bytes:
    """Rebuild a frame with a replaced header, validly sealed (an authenticated but bad peer)."""
    raw, body = _open(frame)
    if header is not None:
        raw = msgpack.packb(header, use_bin_type=True)
    return Codec(secret).seal_raw(raw, body)


def _header(frame: bytes) -> dict:
    return msgpack.unpackb(_open(frame)[0])


def _entry(f: bytes, **change) -> dict:
    return {**_header(f), "x": [{**_header(f)["x"][0], **change}]}


def _prefix(f: bytes, **change) -> bytes:
    names = ("magic", "version", "kind", "reserved", "header_len", "body_len", "seq")
    fields = dict(zip(names, PREFIX.unpack_from(f, 0)))
    fields.update(change)
    return PREFIX.pack(*fields.values()) + f[PREFIX_BYTES:]


@pytest.mark.parametrize(
    ("mutate", "error", "needle"),
    [
        (lambda f: b"XXXX" + f[4:], E.BadMagic, "magic"),
        (lambda f: _prefix(f, version=9), E.UnsupportedVersion, "version=9"),
        (lambda f: _prefix(f, version=1), E.UnsupportedVersion, "version 1 frames"),
        (lambda f: f[:-1], E.Truncated, "announces"),
        (lambda f: f[:10], E.Truncated, "prefix"),
        (lambda f: f + b"\x00", E.TrailingBytes, "announces"),
        (lambda f: f[:-1] + bytes([f[-1] ^ 1]), E.BadHmac, "body failed authentication"),
        (lambda f: f[:40] + bytes([f[40] ^ 1]) + f[41:], E.BadHmac, "header failed"),
        (lambda f: f, None, ""),  # identity: decodes (checks the harness itself)
        (lambda f: _reseal(f, secret=b"another-secret-0123456789"), E.BadHmac, "wrong secret"),
        (lambda f: _prefix(f, seq=1), E.ReplayedFrame, "seq=1; expected 0"),
        (lambda f: _prefix(f, body_len=2**40), E.FrameTooLarge, "max_frame_bytes"),
        (lambda f: _prefix(f, header_len=2**31), E.FrameTooLarge, "max_header_bytes"),
        (lambda f: _prefix(f, kind=7), E.BadHeader, "kind=7"),
        (lambda f: _prefix(f, kind=1), E.BadHeader, "expected a data frame"),
        (lambda f: _prefix(f, body_len=8), E.BadHeader, "sealed records"),
        (lambda f: _reseal(f, {**_header(f), "t": ""}), E.BadHeader, "message type"),
        (lambda f: _reseal(f, {**_header(f), "extra": 1}), E.BadHeader, "header keys"),
        (lambda f: _reseal(f, {**_header(f), "id": -1}), E.BadHeader, "request id"),
        (lambda f: _reseal(f, _entry(f, d="object")), E.BadDtype, "'object'"),
        (lambda f: _reseal(f, _entry(f, s=[4, 5])), E.ShapeMismatch, "needs 80"),
        (lambda f: _reseal(f, _entry(f, o=60)), E.ShapeMismatch, "exceeds body"),
        (lambda f: _reseal(f, _entry(f, s=[-4, -4])), E.ShapeMismatch, "shape"),
        (lambda f: _reseal(f, _entry(f, s=[0, 2**47, 2**47], b=0)), E.ShapeMismatch, "spans"),
        (lambda f: _reseal(f, _entry(f, s=[0, 2**47], b=0, c="int8")), E.ShapeMismatch, "spans"),
        (lambda f: _reseal(f, _entry(f, c="zstd")), E.BadCompression, "zstd"),
        (
            lambda f: _reseal(f, {**_header(f), "x": [_header(f)["x"][0]] * 2}),
            E.BadHeader,
            "duplicate",
        ),
        (
            lambda f: _reseal(f, {**_header(f), "m": msgpack.ExtType(1, b"x")}),
            E.BadHeader,
            "ext",
        ),
    ],
)
def test_bad_frames_rejected_with_reason(codec: Codec, mutate, error, needle) -> None:
    bad = mutate(_frame(codec))
    if bad == _frame(codec):  # the identity mutation must decode: the harness is sound
        assert codec.decode(bad).type == "s"
        return
    with pytest.raises(error, match=needle):
        codec.decode(bad)


def test_a_frame_decodes_once_per_channel_and_not_on_another_connection(codec: Codec) -> None:
    sender, receiver = Channel(b"k" * 32, b"j" * 32), Channel(b"j" * 32, b"k" * 32)
    first = codec.encode(Message("s", 1), channel=sender)
    second = codec.encode(Message("s", 2), channel=sender)
    with pytest.raises(E.ReplayedFrame):
        codec.decode(second, receiver)  # reordered
    assert codec.decode(first, receiver).request_id == 1
    with pytest.raises(E.ReplayedFrame):
        codec.decode(first, receiver)  # replayed
    assert codec.decode(second, receiver).request_id == 2
    other = Channel(b"j" * 32, b"i" * 32)  # another connection's keys, same sequence number
    with pytest.raises(E.BadHmac):
        codec.decode(first, other)


def test_frames_are_encrypted(codec: Codec) -> None:
    x = np.arange(4096, dtype=np.float32)
    frame = codec.encode(Message("secret-type", 1, {"a": x}, {"who": "alice"}))
    assert x.tobytes()[:64] not in frame
    assert b"secret-type" not in frame
    assert b"alice" not in frame


def test_rejections_are_value_errors(codec: Codec) -> None:
    with pytest.raises(ValueError, match="magic"):
        codec.decode(b"\x00" * 200)


def test_prefix_check_needs_only_28_bytes(codec: Codec) -> None:
    frame = _frame(codec)
    layout = codec.parse_prefix(frame[:PREFIX_BYTES])
    assert PREFIX_BYTES == 28
    assert layout.total == len(frame)
    assert layout.body_len == 64 + TAG_BYTES


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"secret": b"short"}, "secret"),
        ({"secret": SECRET, "compression": "zip"}, "compression"),
        ({"secret": SECRET, "max_frame_bytes": 10}, "max_frame_bytes"),
    ],
)
def test_bad_config_raises(kwargs, needle) -> None:
    with pytest.raises(E.WireConfigError, match=needle):
        Codec(**kwargs)


def test_encode_rejects_unsafe_payloads(codec: Codec) -> None:
    for bad in (np.array([object()]), np.array([1 + 2j]), np.array(["s"])):
        with pytest.raises(E.WireConfigError, match="dtype"):
            codec.encode(Message("s", 0, {"a": bad}))
    with pytest.raises(E.WireConfigError, match="max_frame_bytes"):
        codec.encode(Message("s", 0, {"a": np.zeros(3 * 2**20, np.float32)}))
    with pytest.raises(E.WireConfigError, match="request_id"):
        codec.encode(Message("s", -1))


def test_secret_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VECC_WIRE_SECRET", raising=False)
    with pytest.raises(E.WireConfigError, match="VECC_WIRE_SECRET"):
        secret_from_env()
    monkeypatch.setenv("VECC_WIRE_SECRET", "s" * 20)
    assert secret_from_env() == b"s" * 20


def test_no_pickle_in_wire_package() -> None:
    import pathlib

    import ecc.wire

    for path in pathlib.Path(ecc.wire.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text, path
        assert "torch.load" not in text, path


def test_rejection_logged_by_caller_gets_reason(
    codec: Codec, caplog: pytest.LogCaptureFixture
) -> None:
    from ecc.wire.transport import decode_or_log

    with caplog.at_level(logging.WARNING), pytest.raises(E.BadMagic):
        decode_or_log(codec, b"NOPE" + bytes(100), peer="test")
    assert "rejected frame from test" in caplog.text
    assert "magic" in caplog.text


def test_wire_config_builds_codec_and_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    from ecc.wire import WireConfig

    monkeypatch.setenv("VECC_TEST_SECRET", "x" * 24)
    cfg = WireConfig.from_mapping(
        {"secret_env": "VECC_TEST_SECRET", "compression": "fp16", "retries": 1}
    )
    codec = cfg.codec()
    assert codec.compression == "fp16"
    assert cfg.transport().retries == 1
    with pytest.raises(E.WireConfigError, match="bogus"):
        WireConfig.from_mapping({"bogus": 1})
    with pytest.raises(E.WireConfigError, match="compression"):
        WireConfig(compression="zip").codec(secret=SECRET)


@pytest.mark.parametrize("kind", ["fp16", "int8"])
def test_bfloat16_compression_keeps_dtype(codec: Codec, kind: str) -> None:
    torch.manual_seed(3)
    h = torch.randn(4, 300).to(torch.bfloat16)
    out = codec.decode(codec.encode(Message("s", 0, {"h": h}), compress={"h": kind}))
    back = out.torch_tensors()["h"]
    assert back.dtype == torch.bfloat16
    tol = 0.02 if kind == "fp16" else 0.03
    assert (back.float() - h.float()).abs().max() <= tol * h.float().abs().max()
