"""Versioned, authenticated and encrypted frames carrying named tensors. No pickle anywhere.

Frame layout, version 2 (all integers little-endian)::

    offset 0   magic        4 bytes  b"VECC"
           4   version      u8       PROTOCOL_VERSION (2); version 1 (HMAC, clear text) is refused
           5   kind         u8       0 data; 1, 2, 3 handshake (see ``ecc.wire.secure``)
           6   reserved     u16      0
           8   header_len   u32      bytes of the sealed header (msgpack + 16-byte GCM tag)
          12   body_len     u64      bytes of the sealed body (tensors + 16-byte tag; 0: no body)
          20   seq          u64      this direction's frame number on the connection (0, 1, ...)
          28   header       AES-256-GCM(nonce = (0, seq), associated data = the 28-byte prefix)
           .   body         AES-256-GCM(nonce = (1, seq), associated data = the 28-byte prefix)

Header map (after decryption): ``t`` message type (str), ``id`` request id (uint64), ``m``
metadata (a msgpack map of plain values), ``x`` tensor table: a list of maps ``n`` name, ``d``
dtype (whitelist ``DTYPES``), ``s`` shape, ``o`` byte offset in the body, ``b`` byte length,
and optionally ``c`` compression (``fp16`` or ``int8``). Body regions start at ALIGN-byte offsets.

A reader checks the prefix first (size limits, the expected sequence number), then reads and
authenticates the small header: only then is the body's length trusted and memory for it
reserved. The whole tensor table is validated against the body length (every shape, dtype,
offset and byte count, with element counts bounded by ``max_frame_bytes``) before the body is
read, so no declared size can make the reader allocate; any violation is a ``ProtocolError``.
Decoded tensors are ``np.frombuffer`` views into the one decrypted body buffer (writable).
"""

from __future__ import annotations

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
from ecc.wire.secure import TAG_BYTES, Channel
from ecc.wire.torch_edge import to_numpy, to_torch

log = logging.getLogger(__name__)

MAGIC = b"VECC"
PROTOCOL_VERSION = 2
SUPPORTED_VERSIONS: tuple[int, ...] = (2,)
PREFIX = struct.Struct("<4sBBHIQQ")
PREFIX_BYTES = PREFIX.size  # 28
KIND_DATA, KIND_HELLO, KIND_SERVER_HELLO, KIND_FINISH = 0, 1, 2, 3
KINDS = {
    KIND_DATA: "data",
    KIND_HELLO: "hello",
    KIND_SERVER_HELLO: "server_hello",
    KIND_FINISH: "finish",
}
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
    for bfloat16, which numpy holds as uint16 bit patterns). ``origin`` is set by a server
    to the id of the authenticated connection the message came in on; it never travels.
    """

    type: str
    request_id: int = 0
    tensors: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    wire_dtypes: dict[str, str] = field(default_factory=dict)
    origin: int = 0

    def torch_tensors(self) -> dict[str, Any]:
        """The tensors as torch tensors (zero-copy where numpy allows; bf16 restored)."""
        return to_torch(self.tensors, self.wire_dtypes)


@dataclass(frozen=True)
class FrameLayout:
    """What a frame's prefix announces (sizes in bytes)."""

    version: int
    header_len: int
    body_len: int
    kind: int = KIND_DATA
    seq: int = 0

    @property
    def body_offset(self) -> int:
        """Offset of the sealed body from the frame start (bytes)."""
        return PREFIX_BYTES + self.header_len

    @property
    def total(self) -> int:
        """Whole frame length (bytes)."""
        return PREFIX_BYTES + self.header_len + self.body_len

    @property
    def plain_body_len(self) -> int:
        """Body length after decryption (bytes)."""
        return max(self.body_len - TAG_BYTES, 0)


@dataclass(frozen=True)
class _Entry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    comp: str
    count: int


@dataclass(frozen=True)
class FrameHeader:
    """An authenticated, validated header: what the body will hold (read before the body)."""

    layout: FrameLayout
    prefix: bytes
    type: str
    request_id: int
    meta: dict[str, Any]
    entries: tuple[_Entry, ...]


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

    Frames are sealed with a ``Channel`` (per-connection keys from the handshake); without one,
    ``encode``/``decode`` use a fresh ``Channel.offline(secret)`` (frames at rest, tests).

    Args:
        secret: the shared secret, at least ``MIN_SECRET_BYTES`` bytes (input of HKDF).
        max_frame_bytes: largest whole frame accepted or produced (bytes).
        max_header_bytes: largest sealed header accepted (bytes).
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
        if max_frame_bytes < PREFIX_BYTES + 2 * TAG_BYTES + ALIGN:
            raise E.WireConfigError(
                f"max_frame_bytes={max_frame_bytes} is below the "
                f"{PREFIX_BYTES + 2 * TAG_BYTES + ALIGN}-byte minimum"
            )
        if not 64 <= max_header_bytes <= 2**32 - 1:
            raise E.WireConfigError(
                f"max_header_bytes={max_header_bytes}; allowed: 64 .. 4294967295"
            )
        if compression not in COMPRESSIONS:
            raise E.WireConfigError(f"compression={compression!r}; allowed: {COMPRESSIONS}")
        if min_compress_elems < 0:
            raise E.WireConfigError(f"min_compress_elems={min_compress_elems}; allowed: >= 0")
        self.secret = key
        self.max_frame_bytes = int(max_frame_bytes)
        self.max_header_bytes = int(max_header_bytes)
        self.compression = compression
        self.min_compress_elems = int(min_compress_elems)

    # ------------------------------------------------------------------ encode
    def _tensor_chunks(
        self, msg: Message, compress: Mapping[str, str] | None
    ) -> tuple[list[dict[str, Any]], list[memoryview], int]:
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
                if b.nbytes:
                    chunks.append(memoryview(b).cast("B"))
                nbytes += b.nbytes
            entry["b"] = nbytes
            if kind != "none":
                entry["c"] = kind
            table.append(entry)
            last = len(table) == len(msg.tensors)
            pad = 0 if last else _align(offset + nbytes) - (offset + nbytes)
            if pad:
                chunks.append(memoryview(bytes(pad)))
            offset += nbytes + pad
        return table, chunks, offset

    def encode_buffers(
        self,
        msg: Message,
        compress: Mapping[str, str] | None = None,
        channel: Channel | None = None,
    ) -> list[memoryview]:
        """Seal ``msg`` with ``channel`` as buffers for ``socket.sendmsg`` (prefix+header, body).

        ``compress`` maps tensor names to a compression overriding the codec default. The
        channel's next sequence number is used up even if the frame is never sent.
        """
        table, chunks, plain_len = self._tensor_chunks(msg, compress)
        header = msgpack.packb(
            {"t": msg.type, "id": msg.request_id, "m": msg.meta, "x": table}, use_bin_type=True
        )
        header_len = len(header) + TAG_BYTES
        if header_len > self.max_header_bytes:
            raise E.WireConfigError(
                f"header of {header_len} bytes exceeds max_header_bytes={self.max_header_bytes}"
            )
        body_len = plain_len + TAG_BYTES if plain_len else 0
        layout = FrameLayout(PROTOCOL_VERSION, header_len, body_len)
        if layout.total > self.max_frame_bytes:
            raise E.WireConfigError(
                f"frame of {layout.total} bytes exceeds max_frame_bytes={self.max_frame_bytes}"
            )
        ch = channel if channel is not None else Channel.offline(self.secret)
        seq = ch.take_tx_seq(layout.total)
        head = bytearray(PREFIX_BYTES + header_len)
        PREFIX.pack_into(head, 0, MAGIC, PROTOCOL_VERSION, KIND_DATA, 0, header_len, body_len, seq)
        prefix = bytes(head[:PREFIX_BYTES])
        hv = memoryview(head)
        ch.seal_into(0, seq, prefix, memoryview(header), hv[PREFIX_BYTES:])
        if not plain_len:
            return [hv]
        if len(chunks) == 1:
            plain = chunks[0]  # one tensor: encrypt straight from its memory
        else:
            gathered = bytearray(plain_len)
            pos = 0
            for c in chunks:
                gathered[pos : pos + len(c)] = c
                pos += len(c)
            plain = memoryview(gathered)
        sealed = bytearray(body_len)
        ch.seal_into(1, seq, prefix, plain, memoryview(sealed))
        return [hv, memoryview(sealed)]

    def encode(
        self,
        msg: Message,
        compress: Mapping[str, str] | None = None,
        channel: Channel | None = None,
    ) -> bytes:
        """Encode ``msg`` as one contiguous frame."""
        return b"".join(self.encode_buffers(msg, compress, channel))

    def seal_raw(self, header_raw: bytes, body: bytes, channel: Channel | None = None) -> bytes:
        """A frame with arbitrary header bytes and body, validly sealed (tests of the decoder)."""
        ch = channel if channel is not None else Channel.offline(self.secret)
        header_len = len(header_raw) + TAG_BYTES
        body_len = len(body) + TAG_BYTES if body else 0
        seq = ch.take_tx_seq(PREFIX_BYTES + header_len + body_len)
        prefix = PREFIX.pack(MAGIC, PROTOCOL_VERSION, KIND_DATA, 0, header_len, body_len, seq)
        out = bytearray(PREFIX_BYTES + header_len + body_len)
        out[:PREFIX_BYTES] = prefix
        ov = memoryview(out)
        ch.seal_into(
            0, seq, prefix, memoryview(header_raw), ov[PREFIX_BYTES : PREFIX_BYTES + header_len]
        )
        if body:
            ch.seal_into(1, seq, prefix, memoryview(body), ov[PREFIX_BYTES + header_len :])
        return bytes(out)

    # ------------------------------------------------------------------ decode
    def check_lead(self, lead: bytes | bytearray | memoryview) -> None:
        """Validate magic and version from the first bytes of a prefix (5 or more suffice).

        Lets a reader drop a peer speaking another protocol without waiting for a whole prefix.
        """
        n = min(len(lead), 5)
        if bytes(lead[: min(n, 4)]) != MAGIC[: min(n, 4)]:
            raise E.BadMagic(f"magic={bytes(lead[:4])!r}; expected {MAGIC!r}")
        if n == 5 and lead[4] not in SUPPORTED_VERSIONS:
            self.parse_prefix(bytes(lead[:5]) + bytes(PREFIX_BYTES - 5))  # raises with the hint

    def parse_prefix(self, prefix: bytes | bytearray | memoryview) -> FrameLayout:
        """Validate the fixed prefix; raises before any header or body byte needs to be read."""
        if len(prefix) < PREFIX_BYTES:
            raise E.Truncated(
                f"frame of {len(prefix)} bytes is shorter than the {PREFIX_BYTES}-byte prefix"
            )
        magic, version, kind, reserved, header_len, body_len, seq = PREFIX.unpack_from(prefix, 0)
        if magic != MAGIC:
            raise E.BadMagic(f"magic={bytes(magic)!r}; expected {MAGIC!r}")
        if version not in SUPPORTED_VERSIONS:
            hint = (
                " (version 1 frames are HMAC-only clear text and no longer accepted; update the peer)"
                if version < PROTOCOL_VERSION
                else ""
            )
            raise E.UnsupportedVersion(f"version={version}; supported: {SUPPORTED_VERSIONS}{hint}")
        if kind not in KINDS or reserved:
            raise E.BadHeader(
                f"kind={kind}, reserved={reserved}; allowed: kind in {sorted(KINDS)}, reserved 0"
            )
        if header_len > self.max_header_bytes:
            raise E.FrameTooLarge(
                f"header_len={header_len} bytes exceeds max_header_bytes={self.max_header_bytes}"
            )
        layout = FrameLayout(version, header_len, body_len, kind, seq)
        if layout.total > self.max_frame_bytes:
            raise E.FrameTooLarge(
                f"frame of {layout.total} bytes (body_len={body_len}) exceeds "
                f"max_frame_bytes={self.max_frame_bytes}"
            )
        if kind == KIND_DATA and (header_len <= TAG_BYTES or (body_len and body_len <= TAG_BYTES)):
            raise E.BadHeader(
                f"header_len={header_len}, body_len={body_len}; sealed records need > "
                f"{TAG_BYTES} bytes (body_len 0: no body)"
            )
        return layout

    def open_header(
        self, layout: FrameLayout, prefix: bytes, sealed_header: memoryview, channel: Channel
    ) -> FrameHeader:
        """Authenticate and validate a data frame's header (the body is not needed yet)."""
        if layout.kind != KIND_DATA:
            raise E.BadHeader(
                f"kind={layout.kind} ({KINDS[layout.kind]}); expected a data frame (kind 0)"
            )
        channel.check_rx_seq(layout.seq)
        raw = bytearray(layout.header_len - TAG_BYTES)
        channel.open_into(0, layout.seq, prefix, sealed_header, memoryview(raw), "header")
        header = self._unpack_header(memoryview(raw))
        entries = self._check_table(header["x"], layout.plain_body_len)
        if not layout.body_len:
            channel.finish_rx()
        return FrameHeader(layout, prefix, header["t"], header["id"], header["m"], entries)

    def open_body(
        self, head: FrameHeader, sealed_body: memoryview | None, channel: Channel
    ) -> Message:
        """Authenticate the body announced by ``head`` and decode its tensors."""
        body = memoryview(b"")
        if head.layout.body_len:
            if sealed_body is None or len(sealed_body) != head.layout.body_len:
                got = 0 if sealed_body is None else len(sealed_body)
                raise E.Truncated(
                    f"body has {got} bytes; the prefix announces {head.layout.body_len}"
                )
            plain = bytearray(head.layout.plain_body_len)
            channel.open_into(
                1, head.layout.seq, head.prefix, sealed_body, memoryview(plain), "body"
            )
            channel.finish_rx()
            body = memoryview(plain)
        tensors, dtypes = self._decode_tensors(head.entries, body)
        return Message(
            type=head.type,
            request_id=head.request_id,
            tensors=tensors,
            meta=head.meta,
            wire_dtypes=dtypes,
        )

    def decode(
        self, frame: bytes | bytearray | memoryview, channel: Channel | None = None
    ) -> Message:
        """Validate and decode one whole frame; raises a ``ProtocolError`` subclass."""
        view = memoryview(frame).cast("B")
        layout = self.parse_prefix(view[:PREFIX_BYTES])
        if len(view) < layout.total:
            raise E.Truncated(f"frame has {len(view)} bytes; its prefix announces {layout.total}")
        if len(view) > layout.total:
            raise E.TrailingBytes(
                f"frame has {len(view)} bytes; its prefix announces {layout.total}"
            )
        ch = channel if channel is not None else Channel.offline(self.secret)
        prefix = bytes(view[:PREFIX_BYTES])
        head = self.open_header(layout, prefix, view[PREFIX_BYTES : layout.body_offset], ch)
        return self.open_body(head, view[layout.body_offset :] if layout.body_len else None, ch)

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

    def _check_table(self, table: list[Any], body_len: int) -> tuple[_Entry, ...]:
        """Every entry's name, dtype, shape, region and byte count, before any allocation."""
        out: list[_Entry] = []
        names: set[str] = set()
        cursor = 0  # end of the previous region: regions must be ordered and disjoint
        for i, entry in enumerate(table):
            if (
                not isinstance(entry, dict)
                or not {"n", "d", "s", "o", "b"} <= set(entry) <= _TENSOR_KEYS
            ):
                raise E.BadHeader(f"tensor entry {i} is malformed: {entry!r:.200}")
            name, dtype, shape, off, nbytes = (entry[k] for k in ("n", "d", "s", "o", "b"))
            comp = entry.get("c", "none")
            if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS or name in names:
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
            shp = tuple(shape)
            count, span = 1, 1
            for d in shp:
                count *= d
                span *= max(d, 1)  # what numpy would size a zero-size array's strides by
            if span * DTYPES[dtype].itemsize > self.max_frame_bytes:
                raise E.ShapeMismatch(
                    f"tensor {name!r} shape={list(shp)} spans {span} elements of {dtype}; "
                    f"allowed: <= max_frame_bytes={self.max_frame_bytes} bytes even when empty"
                )
            if type(off) is not int or type(nbytes) is not int or off < cursor or nbytes < 0:
                raise E.ShapeMismatch(
                    f"tensor {name!r} offset={off!r} nbytes={nbytes!r}; regions must be ordered, "
                    f"disjoint and start at >= {cursor}"
                )
            if off + nbytes > body_len:
                raise E.ShapeMismatch(
                    f"tensor {name!r} region [{off}, {off + nbytes}) exceeds body of {body_len} bytes"
                )
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
            names.add(name)
            out.append(_Entry(name, dtype, shp, off, nbytes, comp, count))
            cursor = off + nbytes
        return tuple(out)

    def _decode_tensors(
        self, entries: tuple[_Entry, ...], body: memoryview
    ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        tensors: dict[str, np.ndarray] = {}
        dtypes: dict[str, str] = {}
        for e in entries:
            region = body[e.offset : e.offset + e.nbytes]
            try:
                if e.comp == "none":
                    arr = (
                        np.frombuffer(region, dtype=DTYPES[e.dtype], count=e.count).reshape(e.shape)
                        if e.count
                        else np.empty(e.shape, dtype=DTYPES[e.dtype])
                    )
                else:
                    arr = _restore_dtype(decompress(region, e.comp, e.shape), e.dtype)
            except (ValueError, TypeError, MemoryError) as err:  # last line: never a raw error
                raise E.ShapeMismatch(f"tensor {e.name!r} cannot be decoded: {err}") from err
            tensors[e.name] = arr
            dtypes[e.name] = e.dtype
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
