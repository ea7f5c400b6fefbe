"""Versioned, authenticated frames carrying named tensors. No pickle anywhere.

Frame layout (all integers little-endian)::

    offset 0   magic        4 bytes  b"VECC"
           4   version      u8       PROTOCOL_VERSION
           5   flags        u8       0 (reserved; non-zero is rejected)
           6   reserved     u16      0
           8   header_len   u32      bytes of the msgpack header
          12   body_len     u64      bytes of the tensor body
          20   header       msgpack map (see below), then zero padding so the
                            body starts at a multiple of ALIGN bytes
           .   body         raw tensor buffers, each at an ALIGN-aligned offset
           .   mac          32 bytes HMAC-SHA256(secret, every byte before it)

Header map: ``t`` message type (str), ``id`` request id (uint64), ``m`` metadata
(a msgpack map of plain values), ``x`` tensor table: a list of maps ``n`` name,
``d`` dtype (whitelist ``DTYPES``), ``s`` shape, ``o`` byte offset in the body,
``b`` byte length, and optionally ``c`` compression (``fp16`` or ``int8``).

The decoder checks the prefix first (so a reader can refuse an oversized frame
before reading its body), then the HMAC over the raw bytes (so the msgpack parser
never sees unauthenticated input), then every header field against the body.
Decoded tensors are ``np.frombuffer`` views into the frame: no copies, read-only
when the frame is ``bytes``, writable when it is a ``bytearray``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from ecc.wire import compression as C
from ecc.wire import errors as E
from ecc.wire.compression import COMPRESSIONS, compressed_nbytes, decompress
from ecc.wire.dtypes import DTYPES, FLOAT_DTYPES
from ecc.wire.torch_edge import to_numpy, to_torch

log = logging.getLogger(__name__)

MAGIC = b"VECC"
PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
PREFIX = struct.Struct("<4sBBHIQ")
PREFIX_BYTES = PREFIX.size  # 20
MAC_BYTES = 32
ALIGN = 64
SECRET_ENV = "VECC_WIRE_SECRET"
MIN_SECRET_BYTES = 16


MAX_TENSORS = 4096
MAX_NDIM = 32
MAX_NAME_CHARS = 256
MAX_TYPE_CHARS = 64
_HEADER_KEYS = frozenset({"t", "id", "m", "x"})
_TENSOR_KEYS = frozenset({"n", "d", "s", "o", "b", "c"})


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Message:
    """One protocol message: a type, a request id, plain metadata and named tensors.

    On encode, ``tensors`` values may be numpy arrays or torch tensors. On decode they
    are numpy arrays and ``wire_dtypes`` gives each tensor's wire dtype name (needed
    for bfloat16, which numpy holds as uint16 bit patterns).
    """

    type: str
    request_id: int = 0
    tensors: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    wire_dtypes: dict[str, str] = field(default_factory=dict)

    def torch_tensors(self) -> dict[str, Any]:
        """The tensors as torch tensors (zero-copy where numpy allows; bf16 restored)."""
        return to_torch(self.tensors, self.wire_dtypes)


@dataclass(frozen=True)
class FrameLayout:
    """Sizes announced by a frame's prefix (bytes)."""

    version: int
    header_len: int
    body_len: int

    @property
    def body_offset(self) -> int:
        """Offset of the body from the frame start (bytes)."""
        return _align(PREFIX_BYTES + self.header_len)

    @property
    def total(self) -> int:
        """Whole frame length including the MAC (bytes)."""
        return self.body_offset + self.body_len + MAC_BYTES


def secret_from_env(var: str = SECRET_ENV) -> bytes:
    """The shared secret from environment variable ``var`` (UTF-8 encoded)."""
    value = os.environ.get(var)
    if not value:
        raise E.WireConfigError(
            f"environment variable {var} is unset or empty; set it to a shared secret of "
            f">= {MIN_SECRET_BYTES} bytes (the same on edge and cloud)"
        )
    return value.encode()


class Codec:
    """Encodes and strictly decodes frames for one shared secret.

    Args:
        secret: shared HMAC key, at least ``MIN_SECRET_BYTES`` bytes.
        max_frame_bytes: largest whole frame accepted or produced (bytes).
        max_header_bytes: largest msgpack header accepted (bytes).
        compression: default compression of floating tensors on encode
            (``none``, ``fp16`` or ``int8``); per-message overrides via ``encode(compress=...)``.
        min_compress_elems: floating tensors smaller than this travel uncompressed
            (their scales would cost more than they save).
    """

    def __init__(
        self,
        secret: bytes | str,
        max_frame_bytes: int = 64 * 2**20,
        max_header_bytes: int = 1 * 2**20,
        compression: str = "none",
        min_compress_elems: int = 256,
    ) -> None:
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(key) < MIN_SECRET_BYTES:
            raise E.WireConfigError(
                f"secret has {len(key)} bytes; allowed: >= {MIN_SECRET_BYTES} bytes"
            )
        if max_frame_bytes < PREFIX_BYTES + MAC_BYTES + ALIGN:
            raise E.WireConfigError(
                f"max_frame_bytes={max_frame_bytes} is below the 116-byte minimum"
            )
        if not 64 <= max_header_bytes <= 2**32 - 1:
            raise E.WireConfigError(
                f"max_header_bytes={max_header_bytes}; allowed: 64 .. 4294967295"
            )
        if compression not in COMPRESSIONS:
            raise E.WireConfigError(f"compression={compression!r}; allowed: {COMPRESSIONS}")
        if min_compress_elems < 0:
            raise E.WireConfigError(f"min_compress_elems={min_compress_elems}; allowed: >= 0")
        self._key = key
        self.max_frame_bytes = int(max_frame_bytes)
        self.max_header_bytes = int(max_header_bytes)
        self.compression = compression
        self.min_compress_elems = int(min_compress_elems)

    # ------------------------------------------------------------------ encode
    def encode_buffers(
        self, msg: Message, compress: Mapping[str, str] | None = None
    ) -> list[memoryview]:
        """Encode ``msg`` as a list of buffers for ``socket.sendmsg`` (tensor data not copied).

        ``compress`` maps tensor names to a compression overriding the codec default.
        """
        if not isinstance(msg.type, str) or not 0 < len(msg.type) <= MAX_TYPE_CHARS:
            raise E.WireConfigError(
                f"message type={msg.type!r}; allowed: str of 1..{MAX_TYPE_CHARS} chars"
            )
        if not isinstance(msg.request_id, int) or not 0 <= msg.request_id < 2**64:
            raise E.WireConfigError(f"request_id={msg.request_id!r}; allowed: int in [0, 2**64)")
        if len(msg.tensors) > MAX_TENSORS:
            raise E.WireConfigError(f"{len(msg.tensors)} tensors; allowed: <= {MAX_TENSORS}")
        overrides = dict(compress or {})
        for name, kind in overrides.items():
            if kind not in COMPRESSIONS:
                raise E.WireConfigError(f"compress[{name!r}]={kind!r}; allowed: {COMPRESSIONS}")

        table: list[dict[str, Any]] = []
        chunks: list[memoryview] = []
        offset = 0
        for name, value in msg.tensors.items():
            if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
                raise E.WireConfigError(
                    f"tensor name={name!r}; allowed: str of 1..{MAX_NAME_CHARS} chars"
                )
            arr, wire_dtype = to_numpy(value, msg.wire_dtypes.get(name))
            if arr.ndim > MAX_NDIM:
                raise E.WireConfigError(
                    f"tensor {name!r} has ndim={arr.ndim}; allowed: <= {MAX_NDIM}"
                )
            kind = overrides.get(name, self.compression)
            if kind != "none" and (
                wire_dtype not in FLOAT_DTYPES or arr.size < self.min_compress_elems
            ):
                kind = "none"
            if kind == "none":
                bufs = [np.ascontiguousarray(arr, dtype=DTYPES[wire_dtype])]
            else:
                if wire_dtype == "bfloat16":
                    arr = (arr.astype(np.uint32) << 16).view(np.float32)
                bufs = C.compress(arr, kind)
            entry: dict[str, Any] = {"n": name, "d": wire_dtype, "s": list(arr.shape), "o": offset}
            nbytes = 0
            for b in bufs:
                chunks.append(memoryview(b).cast("B") if b.nbytes else memoryview(b""))
                nbytes += b.nbytes
            entry["b"] = nbytes
            if kind != "none":
                entry["c"] = kind
            table.append(entry)
            pad = _align(offset + nbytes) - (offset + nbytes)
            if pad:
                chunks.append(memoryview(bytes(pad)))
            offset += nbytes + pad

        header = msgpack.packb(
            {"t": msg.type, "id": msg.request_id, "m": msg.meta, "x": table},
            use_bin_type=True,
        )
        if len(header) > self.max_header_bytes:
            raise E.WireConfigError(
                f"header of {len(header)} bytes exceeds max_header_bytes={self.max_header_bytes}"
            )
        layout = FrameLayout(PROTOCOL_VERSION, len(header), offset)
        if layout.total > self.max_frame_bytes:
            raise E.WireConfigError(
                f"frame of {layout.total} bytes exceeds max_frame_bytes={self.max_frame_bytes}"
            )
        head = bytearray(layout.body_offset)
        PREFIX.pack_into(head, 0, MAGIC, PROTOCOL_VERSION, 0, 0, len(header), offset)
        head[PREFIX_BYTES : PREFIX_BYTES + len(header)] = header
        out = [memoryview(head), *chunks]
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for b in out:
            mac.update(b)
        out.append(memoryview(mac.digest()))
        return out

    def encode(self, msg: Message, compress: Mapping[str, str] | None = None) -> bytes:
        """Encode ``msg`` as one contiguous frame (one copy of the tensor data)."""
        return b"".join(self.encode_buffers(msg, compress))

    # ------------------------------------------------------------------ decode
    def parse_prefix(self, prefix: bytes | bytearray | memoryview) -> FrameLayout:
        """Validate the fixed prefix; raises before any body byte needs to be read."""
        if len(prefix) < PREFIX_BYTES:
            raise E.Truncated(
                f"frame of {len(prefix)} bytes is shorter than the {PREFIX_BYTES}-byte prefix"
            )
        magic, version, flags, reserved, header_len, body_len = PREFIX.unpack_from(prefix, 0)
        if magic != MAGIC:
            raise E.BadMagic(f"magic={bytes(magic)!r}; expected {MAGIC!r}")
        if version not in SUPPORTED_VERSIONS:
            raise E.UnsupportedVersion(f"version={version}; supported: {SUPPORTED_VERSIONS}")
        if flags or reserved:
            raise E.BadHeader(
                f"flags={flags}, reserved={reserved}; both must be 0 in version {version}"
            )
        if header_len > self.max_header_bytes:
            raise E.FrameTooLarge(
                f"header_len={header_len} bytes exceeds max_header_bytes={self.max_header_bytes}"
            )
        layout = FrameLayout(version, header_len, body_len)
        if layout.total > self.max_frame_bytes:
            raise E.FrameTooLarge(
                f"frame of {layout.total} bytes (body_len={body_len}) exceeds "
                f"max_frame_bytes={self.max_frame_bytes}"
            )
        return layout

    def decode(self, frame: bytes | bytearray | memoryview) -> Message:
        """Validate and decode one whole frame; raises a ``ProtocolError`` subclass."""
        view = memoryview(frame).cast("B") if not isinstance(frame, bytes) else memoryview(frame)
        layout = self.parse_prefix(view[:PREFIX_BYTES])
        if len(view) < layout.total:
            raise E.Truncated(f"frame has {len(view)} bytes; its prefix announces {layout.total}")
        if len(view) > layout.total:
            raise E.TrailingBytes(
                f"frame has {len(view)} bytes; its prefix announces {layout.total}"
            )
        signed_end = layout.total - MAC_BYTES
        expected = hmac.new(self._key, view[:signed_end], hashlib.sha256).digest()
        if not hmac.compare_digest(expected, view[signed_end:]):
            raise E.BadHmac("HMAC-SHA256 mismatch: wrong shared secret or tampered frame")
        header = self._unpack_header(view[PREFIX_BYTES : PREFIX_BYTES + layout.header_len])
        body = view[layout.body_offset : signed_end]
        tensors, dtypes = self._decode_tensors(header["x"], body)
        return Message(
            type=header["t"],
            request_id=header["id"],
            tensors=tensors,
            meta=header["m"],
            wire_dtypes=dtypes,
        )

    def _unpack_header(self, raw: memoryview) -> dict[str, Any]:
        n = len(raw)
        try:
            header = msgpack.unpackb(
                raw,
                raw=False,
                strict_map_key=True,
                use_list=True,
                max_str_len=n,
                max_bin_len=n,
                max_array_len=n,
                max_map_len=n,
                max_ext_len=0,
                ext_hook=_reject_ext,
            )
        except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as e:
            raise E.BadHeader(f"header is not valid msgpack: {e}") from e
        if not isinstance(header, dict) or set(header) != _HEADER_KEYS:
            got = sorted(header) if isinstance(header, dict) else type(header).__name__
            raise E.BadHeader(f"header keys={got}; expected {sorted(_HEADER_KEYS)}")
        t, rid, meta, table = header["t"], header["id"], header["m"], header["x"]
        if not isinstance(t, str) or not 0 < len(t) <= MAX_TYPE_CHARS:
            raise E.BadHeader(f"message type={t!r}; allowed: str of 1..{MAX_TYPE_CHARS} chars")
        if type(rid) is not int or not 0 <= rid < 2**64:
            raise E.BadHeader(f"request id={rid!r}; allowed: int in [0, 2**64)")
        if not isinstance(meta, dict):
            raise E.BadHeader(f"meta is {type(meta).__name__}; expected a map")
        if not isinstance(table, list) or len(table) > MAX_TENSORS:
            raise E.BadHeader(
                f"tensor table is {type(table).__name__}; expected a list of <= {MAX_TENSORS}"
            )
        return header

    def _decode_tensors(
        self, table: list[Any], body: memoryview
    ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        tensors: dict[str, np.ndarray] = {}
        dtypes: dict[str, str] = {}
        cursor = 0  # end of the previous region: regions must be ordered and disjoint
        for i, entry in enumerate(table):
            if (
                not isinstance(entry, dict)
                or not {"n", "d", "s", "o", "b"} <= set(entry) <= _TENSOR_KEYS
            ):
                raise E.BadHeader(f"tensor entry {i} is malformed: {entry!r:.200}")
            name, dtype, shape, off, nbytes = (entry[k] for k in ("n", "d", "s", "o", "b"))
            comp = entry.get("c", "none")
            if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS or name in tensors:
                raise E.BadHeader(f"tensor {i} name={name!r:.80}: empty, too long or duplicate")
            if not isinstance(dtype, str) or dtype not in DTYPES:
                raise E.BadDtype(f"tensor {name!r} dtype={dtype!r:.40}; allowed: {sorted(DTYPES)}")
            if (
                not isinstance(shape, list)
                or len(shape) > MAX_NDIM
                or not all(type(d) is int and 0 <= d < 2**48 for d in shape)
            ):
                raise E.ShapeMismatch(
                    f"tensor {name!r} shape={shape!r:.80}; expected <= {MAX_NDIM} dims >= 0"
                )
            if type(off) is not int or type(nbytes) is not int or off < cursor or nbytes < 0:
                raise E.ShapeMismatch(
                    f"tensor {name!r} offset={off!r} nbytes={nbytes!r}; regions must be ordered, "
                    f"disjoint and start at >= {cursor}"
                )
            if off + nbytes > len(body):
                raise E.ShapeMismatch(
                    f"tensor {name!r} region [{off}, {off + nbytes}) exceeds body of {len(body)} bytes"
                )
            shp = tuple(shape)
            count = 1
            for d in shp:
                count *= d
            if comp == "none":
                expected = count * DTYPES[dtype].itemsize
            elif comp in ("fp16", "int8") and dtype in FLOAT_DTYPES:
                expected = compressed_nbytes(comp, shp)
            else:
                raise E.BadCompression(
                    f"tensor {name!r} compression={comp!r:.40} with dtype={dtype}; allowed: "
                    f"'fp16'/'int8' on {sorted(FLOAT_DTYPES)}"
                )
            if nbytes != expected:
                raise E.ShapeMismatch(
                    f"tensor {name!r} has {nbytes} bytes; shape {list(shp)} x {dtype}"
                    f"{'' if comp == 'none' else ' compressed ' + comp} needs {expected}"
                )
            region = body[off : off + nbytes]
            if comp == "none":
                arr = (
                    np.frombuffer(region, dtype=DTYPES[dtype], count=count).reshape(shp)
                    if count
                    else np.empty(shp, dtype=DTYPES[dtype])
                )
            else:
                arr = _restore_dtype(decompress(region, comp, shp), dtype)
            tensors[name] = arr
            dtypes[name] = dtype
            cursor = off + nbytes
        return tensors, dtypes


def _restore_dtype(x32: np.ndarray, dtype: str) -> np.ndarray:
    """Cast a decompressed float32 array back to the tensor's declared wire dtype."""
    if dtype == "bfloat16":
        # Round to nearest even on the top 16 bits, as torch does.
        bits = x32.view(np.uint32)
        rounded = bits + 0x7FFF + ((bits >> 16) & 1)
        return (rounded >> 16).astype(np.uint16)
    return x32.astype(DTYPES[dtype], copy=False)


def _reject_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack ext type {code} is not allowed")
