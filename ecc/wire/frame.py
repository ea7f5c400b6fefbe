"""The fixed 28-byte frame prefix: constants, the layout it announces, and its checks.

The prefix (magic, version, kind, reserved, header_len, body_len, seq; table in
``ecc.wire.codec``) is the only part of a frame read before anything is authenticated, so
every size it announces is checked here against the reader's limits before a header or body
byte is read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ecc.wire import errors as E
from ecc.wire.secure import TAG_BYTES

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
ALIGN = 64  # body regions start at multiples of this (bytes)


def align(n: int) -> int:
    """``n`` rounded up to the next multiple of ``ALIGN`` (bytes)."""
    return (n + ALIGN - 1) // ALIGN * ALIGN


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


def check_lead(
    lead: bytes | bytearray | memoryview, max_header_bytes: int, max_frame_bytes: int
) -> None:
    """Validate magic and version from the first bytes of a prefix (5 or more suffice).

    Lets a reader drop a peer speaking another protocol without waiting for a whole prefix.
    """
    n = min(len(lead), 5)
    if bytes(lead[: min(n, 4)]) != MAGIC[: min(n, 4)]:
        raise E.BadMagic(f"magic={bytes(lead[:4])!r}; expected {MAGIC!r}")
    if n == 5 and lead[4] not in SUPPORTED_VERSIONS:
        # A zero-padded prefix: parse_prefix raises on the version, with the upgrade hint.
        padded = bytes(lead[:5]) + bytes(PREFIX_BYTES - 5)
        parse_prefix(padded, max_header_bytes, max_frame_bytes)


def parse_prefix(
    prefix: bytes | bytearray | memoryview, max_header_bytes: int, max_frame_bytes: int
) -> FrameLayout:
    """Validate the fixed prefix against the limits (bytes); raises before any header or body
    byte needs to be read."""
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
    if header_len > max_header_bytes:
        raise E.FrameTooLarge(
            f"header_len={header_len} bytes exceeds max_header_bytes={max_header_bytes}"
        )
    layout = FrameLayout(version, header_len, body_len, kind, seq)
    if layout.total > max_frame_bytes:
        raise E.FrameTooLarge(
            f"frame of {layout.total} bytes (body_len={body_len}) exceeds "
            f"max_frame_bytes={max_frame_bytes}"
        )
    if kind == KIND_DATA and (header_len <= TAG_BYTES or (body_len and body_len <= TAG_BYTES)):
        raise E.BadHeader(
            f"header_len={header_len}, body_len={body_len}; sealed records need > "
            f"{TAG_BYTES} bytes (body_len 0: no body)"
        )
    return layout
