"""Per-connection keys and sealed records: the handshake and the AES-256-GCM channel.

Why AES-GCM over our own frames and not TLS 1.3 from ``ssl``: both sides already share a secret
and nothing else (no certificates, no CA to run on a lab cluster); the standard ``ssl`` module
offers TLS 1.3 external PSKs only from Python 3.13 and its record layer copies every byte through
16 KiB records, while sealing our own frames keeps the frame layout (sizes known from the prefix,
so a reader can refuse a frame before reading it), costs one pass over the body
(``encrypt_into``/``decrypt_into``, ~20 GB/s each on this CPU) and lets the server authenticate a
frame's small header before it reserves memory for the body.

Handshake (both sides contribute 32 random bytes; three messages, one round trip for the client)::

    client -> server  HELLO         client_random (32 B)
    server -> client  SERVER_HELLO  server_random (32 B) | HMAC(auth_key, "server" | transcript)
    client -> server  FINISH        HMAC(auth_key, "client" | transcript)

    auth_key | key_c2s | key_s2c = HKDF-SHA256(secret, salt=client_random | server_random,
                                               info="vecc/2 channel", 96 bytes)

The server learns that the peer knows the secret from FINISH before it accepts any data frame;
the client learns the same of the server from SERVER_HELLO. Each direction has its own key and a
frame sequence number starting at 0: the sequence number travels in the (authenticated) prefix
and forms the GCM nonce, so a replayed, reordered, dropped or other-connection frame fails.
A channel is byte-capped and expires (``ChannelLimits``); the peer then reconnects.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ecc.wire import errors as E

RANDOM_BYTES = 32
MAC_BYTES = 32
TAG_BYTES = 16
KEY_BYTES = 32  # AES-256
_NONCE = struct.Struct("<IQ")  # record kind (0 header, 1 body), frame sequence number
_INFO = b"vecc/2 channel"
_OFFLINE_INFO = b"vecc/2 offline"


@dataclass(frozen=True)
class ChannelLimits:
    """How much one connection's keys may carry before the peers must reconnect.

    ``max_bytes``: sealed bytes per direction (bytes); ``max_age_s``: lifetime (s).
    """

    max_bytes: int = 2**40
    max_age_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_bytes < 1:
            raise E.WireConfigError(f"max_bytes={self.max_bytes}; allowed: >= 1 byte")
        if not self.max_age_s > 0:
            raise E.WireConfigError(f"max_age_s={self.max_age_s}; allowed: > 0 s")


def _hkdf(secret: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def new_random() -> bytes:
    """Fresh handshake randomness (32 bytes from the OS CSPRNG)."""
    return os.urandom(RANDOM_BYTES)


def derive_keys(secret: bytes, client_random: bytes, server_random: bytes) -> tuple[bytes, ...]:
    """(auth_key, key_client_to_server, key_server_to_client) for one connection."""
    okm = _hkdf(secret, client_random + server_random, _INFO, 3 * KEY_BYTES)
    return okm[:KEY_BYTES], okm[KEY_BYTES : 2 * KEY_BYTES], okm[2 * KEY_BYTES :]


def handshake_mac(auth_key: bytes, role: bytes, transcript: bytes) -> bytes:
    """HMAC-SHA256 proving knowledge of the secret for ``role`` (b"server" or b"client")."""
    return hmac.new(auth_key, role + transcript, hashlib.sha256).digest()


def check_mac(expected: bytes, got: bytes, who: str) -> None:
    """Constant-time comparison; ``BadHmac`` naming the side that failed to prove the secret."""
    if not hmac.compare_digest(expected, got):
        raise E.BadHmac(f"{who} handshake MAC mismatch: the peer does not hold the shared secret")


class Channel:
    """One direction pair of AES-256-GCM keys with frame sequence numbers and limits.

    ``seal``/``open`` take the frame's prefix as associated data; the caller puts ``next_tx``
    into the prefix of the frame it seals and checks ``expect_rx`` against the prefix it reads.
    """

    def __init__(self, tx_key: bytes, rx_key: bytes, limits: ChannelLimits | None = None) -> None:
        self._tx = AESGCM(tx_key)
        self._rx = AESGCM(rx_key)
        self.limits = limits or ChannelLimits()
        self.next_tx = 0
        self.expect_rx = 0
        self.bytes_tx = 0
        self.bytes_rx = 0
        self.born = time.monotonic()

    @classmethod
    def for_client(
        cls, secret: bytes, cr: bytes, sr: bytes, limits: ChannelLimits | None = None
    ) -> Channel:
        _, c2s, s2c = derive_keys(secret, cr, sr)
        return cls(c2s, s2c, limits)

    @classmethod
    def for_server(
        cls, secret: bytes, cr: bytes, sr: bytes, limits: ChannelLimits | None = None
    ) -> Channel:
        _, c2s, s2c = derive_keys(secret, cr, sr)
        return cls(s2c, c2s, limits)

    @classmethod
    def offline(cls, secret: bytes) -> Channel:
        """A channel keyed by the secret alone (no handshake), for frames at rest and tests.

        Its frames replay on any other offline channel of the same secret; a server never
        accepts them (it takes data frames only after a handshake).
        """
        key = _hkdf(secret, b"", _OFFLINE_INFO, KEY_BYTES)
        return cls(key, key)

    def age_s(self) -> float:
        """Seconds since the keys were derived."""
        return time.monotonic() - self.born

    def expired(self, margin: float = 1.0) -> bool:
        """True when the channel is past ``margin`` (a fraction) of its byte or age limit."""
        lim = self.limits
        return (
            max(self.bytes_tx, self.bytes_rx) >= lim.max_bytes * margin
            or self.age_s() >= lim.max_age_s * margin
        )

    # ------------------------------------------------------------------ seal
    def seal_into(
        self, kind: int, seq: int, aad: bytes, plain: memoryview, out: memoryview
    ) -> None:
        """Encrypt ``plain`` into ``out`` (``len(plain) + 16`` bytes: ciphertext then tag)."""
        self._tx.encrypt_into(_NONCE.pack(kind, seq), plain, aad, out)
        self.bytes_tx += len(out)

    def take_tx_seq(self, nbytes: int) -> int:
        """Claim the next outgoing sequence number for a frame of ``nbytes`` (bytes)."""
        if self.bytes_tx + nbytes > self.limits.max_bytes:
            raise E.TransportError(
                f"channel byte limit reached ({self.limits.max_bytes} bytes); reconnect"
            )
        seq = self.next_tx
        self.next_tx += 1
        return seq

    # ------------------------------------------------------------------ open
    def check_rx_seq(self, seq: int) -> None:
        """Reject a frame whose sequence number is not the next one expected (replay, reorder)."""
        if seq != self.expect_rx:
            raise E.ReplayedFrame(
                f"frame seq={seq}; expected {self.expect_rx} on this connection "
                "(replayed, reordered or from another connection)"
            )

    def open_into(
        self, kind: int, seq: int, aad: bytes, sealed: memoryview, out: memoryview, what: str
    ) -> None:
        """Decrypt and authenticate ``sealed`` into ``out`` (``len(sealed) - 16`` bytes)."""
        try:
            self._rx.decrypt_into(_NONCE.pack(kind, seq), sealed, aad, out)
        except InvalidTag as e:
            raise E.BadHmac(
                f"{what} failed authentication (AES-GCM tag): wrong secret, tampered, replayed "
                "or other-connection frame"
            ) from e
        self.bytes_rx += len(sealed)
        if self.bytes_rx > self.limits.max_bytes:
            raise E.ProtocolError(
                f"channel received {self.bytes_rx} bytes; limit {self.limits.max_bytes}"
            )

    def finish_rx(self) -> None:
        """Advance the receive sequence number after a whole frame was authenticated."""
        self.expect_rx += 1
