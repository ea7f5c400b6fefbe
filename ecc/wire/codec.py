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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ecc.wire import errors as E
from ecc.wire import frame
from ecc.wire.compression import COMPRESSIONS
from ecc.wire.dtypes import DTYPES
from ecc.wire.frame import (
    ALIGN,
    KIND_DATA,
    KINDS,
    MAGIC,
    PREFIX,
    PREFIX_BYTES,
    PROTOCOL_VERSION,
    FrameLayout,
    check_lead,
    parse_prefix,
)
from ecc.wire.secure import TAG_BYTES, Channel
from ecc.wire.tensor_table import (
    TensorEntry,
    check_outgoing,
    check_table,
    decode_tensors,
    pack_header,
    pack_tensors,
    unpack_header,
)
from ecc.wire.torch_edge import to_torch

# The prefix constants and FrameLayout live in ecc.wire.frame; they stay importable from here
# (the handshake kinds below are not used by the codec itself).
KIND_HELLO, KIND_SERVER_HELLO, KIND_FINISH = (
    frame.KIND_HELLO,
    frame.KIND_SERVER_HELLO,
    frame.KIND_FINISH,
)

__all__ = [
    "ALIGN",
    "DTYPES",
    "KINDS",
    "KIND_DATA",
    "KIND_FINISH",
    "KIND_HELLO",
    "KIND_SERVER_HELLO",
    "MAGIC",
    "MIN_SECRET_BYTES",
    "PREFIX",
    "PREFIX_BYTES",
    "PROTOCOL_VERSION",
    "SECRET_ENV",
    "Codec",
    "FrameHeader",
    "FrameLayout",
    "Message",
    "secret_from_env",
]

log = logging.getLogger(__name__)

SECRET_ENV = "VECC_WIRE_SECRET"
MIN_SECRET_BYTES = 16


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
class FrameHeader:
    """An authenticated, validated header: what the body will hold (read before the body)."""

    layout: FrameLayout
    prefix: bytes
    type: str
    request_id: int
    meta: dict[str, Any]
    entries: tuple[TensorEntry, ...]


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
        check_outgoing(msg.type, msg.request_id)
        table, chunks, plain_len = pack_tensors(
            msg.tensors, msg.wire_dtypes, compress, self.compression, self.min_compress_elems
        )
        header = pack_header(msg.type, msg.request_id, msg.meta, table)
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
        check_lead(lead, self.max_header_bytes, self.max_frame_bytes)

    def parse_prefix(self, prefix: bytes | bytearray | memoryview) -> FrameLayout:
        """Validate the fixed prefix; raises before any header or body byte needs to be read."""
        return parse_prefix(prefix, self.max_header_bytes, self.max_frame_bytes)

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
        header = unpack_header(memoryview(raw))
        entries = check_table(header["x"], layout.plain_body_len, self.max_frame_bytes)
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
        tensors, dtypes = decode_tensors(head.entries, body)
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
