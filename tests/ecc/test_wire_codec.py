"""Round trips and rejections of the wire codec."""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct

import msgpack
import numpy as np
import pytest
import torch

from ecc.wire import Codec, Message
from ecc.wire import errors as E
from ecc.wire.codec import ALIGN, DTYPES, MAC_BYTES, PREFIX, PREFIX_BYTES, secret_from_env

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


def test_decode_is_zero_copy_and_aligned(codec: Codec) -> None:
    frame = bytearray(codec.encode(Message("s", 0, {"a": np.arange(100, dtype=np.float32)})))
    out = codec.decode(frame)
    arr = out.tensors["a"]
    assert arr.base is not None
    assert arr.flags.writeable
    body_off = frame.index(np.arange(100, dtype=np.float32).tobytes())
    assert body_off % ALIGN == 0
    frame[body_off : body_off + 4] = np.float32(42).tobytes()
    assert arr[0] == 42  # a view into the frame, not a copy


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


def _resign(frame: bytes | bytearray, header: dict | None = None, secret: bytes = SECRET) -> bytes:
    """Rebuild a frame with a replaced header and a valid MAC (an authenticated but malformed peer)."""
    magic, ver, flags, res, hlen, blen = PREFIX.unpack_from(frame, 0)
    old_body_off = (PREFIX_BYTES + hlen + ALIGN - 1) // ALIGN * ALIGN
    body = bytes(frame[old_body_off : old_body_off + blen])
    if header is None:
        raw = bytes(frame[PREFIX_BYTES : PREFIX_BYTES + hlen])
    else:
        raw = msgpack.packb(header, use_bin_type=True)
    body_off = (PREFIX_BYTES + len(raw) + ALIGN - 1) // ALIGN * ALIGN
    head = bytearray(body_off)
    PREFIX.pack_into(head, 0, magic, ver, flags, res, len(raw), len(body))
    head[PREFIX_BYTES : PREFIX_BYTES + len(raw)] = raw
    signed = bytes(head) + body
    return signed + hmac.new(secret, signed, hashlib.sha256).digest()


def _header(frame: bytes) -> dict:
    hlen = PREFIX.unpack_from(frame, 0)[4]
    return msgpack.unpackb(frame[PREFIX_BYTES : PREFIX_BYTES + hlen])


@pytest.mark.parametrize(
    ("mutate", "error", "needle"),
    [
        (lambda f, c: b"XXXX" + f[4:], E.BadMagic, "magic"),
        (lambda f, c: f[:4] + b"\x09" + f[5:], E.UnsupportedVersion, "version=9"),
        (lambda f, c: f[:-1], E.Truncated, "announces"),
        (lambda f, c: f[:10], E.Truncated, "prefix"),
        (lambda f, c: f + b"\x00", E.TrailingBytes, "announces"),
        (lambda f, c: f[:-1] + bytes([f[-1] ^ 1]), E.BadHmac, "HMAC"),
        (lambda f, c: f[:40] + bytes([f[40] ^ 1]) + f[41:], E.BadHmac, "HMAC"),
        (lambda f, c: _resign(f, secret=b"another-secret-0123456789"), E.BadHmac, "secret"),
        (
            lambda f, c: f[:12] + struct.pack("<Q", 2**40) + f[20:],
            E.FrameTooLarge,
            "max_frame_bytes",
        ),
        (
            lambda f, c: f[:8] + struct.pack("<I", 2**31) + f[12:],
            E.FrameTooLarge,
            "max_header_bytes",
        ),
        (lambda f, c: f[:5] + b"\x01" + f[6:], E.BadHeader, "flags"),
        (lambda f, c: _resign(f, {**_header(f), "t": ""}), E.BadHeader, "message type"),
        (lambda f, c: _resign(f, {**_header(f), "extra": 1}), E.BadHeader, "header keys"),
        (lambda f, c: _resign(f, {**_header(f), "id": -1}), E.BadHeader, "request id"),
        (
            lambda f, c: _resign(f, {**_header(f), "x": [{**_header(f)["x"][0], "d": "object"}]}),
            E.BadDtype,
            "'object'",
        ),
        (
            lambda f, c: _resign(f, {**_header(f), "x": [{**_header(f)["x"][0], "s": [4, 5]}]}),
            E.ShapeMismatch,
            "needs 80",
        ),
        (
            lambda f, c: _resign(f, {**_header(f), "x": [{**_header(f)["x"][0], "o": 60}]}),
            E.ShapeMismatch,
            "exceeds body",
        ),
        (
            lambda f, c: _resign(f, {**_header(f), "x": [{**_header(f)["x"][0], "s": [-4, -4]}]}),
            E.ShapeMismatch,
            "shape",
        ),
        (
            lambda f, c: _resign(f, {**_header(f), "x": [{**_header(f)["x"][0], "c": "zstd"}]}),
            E.BadCompression,
            "zstd",
        ),
        (
            lambda f, c: _resign(f, {**_header(f), "x": [_header(f)["x"][0]] * 2}),
            E.BadHeader,
            "duplicate",
        ),
        (
            lambda f, c: _resign(f, {**_header(f), "m": msgpack.ExtType(1, b"x")}),
            E.BadHeader,
            "ext",
        ),
    ],
)
def test_bad_frames_rejected_with_reason(codec: Codec, mutate, error, needle) -> None:
    bad = mutate(_frame(codec), codec)
    with pytest.raises(error, match=needle):
        codec.decode(bad)


def test_rejections_are_value_errors(codec: Codec) -> None:
    with pytest.raises(ValueError, match="magic"):
        codec.decode(b"\x00" * 200)


def test_prefix_check_needs_only_20_bytes(codec: Codec) -> None:
    frame = _frame(codec)
    layout = codec.parse_prefix(frame[:PREFIX_BYTES])
    assert layout.total == len(frame)
    assert layout.total == layout.body_offset + layout.body_len + MAC_BYTES


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
