"""The three handshake frames of a connection (see ``ecc.wire.secure`` for the key schedule).

Each is a bare prefix (kind 1, 2 or 3; body_len 0; seq 0) followed by a fixed-size payload, so a
server reads two 60-byte messages (hello, finish) from a peer that has not proven it holds the
secret, into buffers of at most 32 bytes, and allocates nothing larger for it.
"""

from __future__ import annotations

from ecc.wire import errors as E
from ecc.wire.frame import (
    KIND_FINISH,
    KIND_HELLO,
    KIND_SERVER_HELLO,
    KINDS,
    MAGIC,
    PREFIX,
    PROTOCOL_VERSION,
    FrameLayout,
)
from ecc.wire.secure import (
    MAC_BYTES,
    RANDOM_BYTES,
    Channel,
    ChannelLimits,
    check_mac,
    derive_keys,
    handshake_mac,
    new_random,
)

PAYLOAD_BYTES = {
    KIND_HELLO: RANDOM_BYTES,
    KIND_SERVER_HELLO: RANDOM_BYTES + MAC_BYTES,
    KIND_FINISH: MAC_BYTES,
}
MAX_PAYLOAD_BYTES = max(PAYLOAD_BYTES.values())


def handshake_frame(kind: int, payload: bytes) -> bytes:
    """Prefix and payload of one handshake message."""
    return PREFIX.pack(MAGIC, PROTOCOL_VERSION, kind, 0, len(payload), 0, 0) + payload


def expect(layout: FrameLayout, kind: int) -> int:
    """Check that ``layout`` announces handshake message ``kind``; returns its payload size."""
    size = PAYLOAD_BYTES[kind]
    if layout.kind != kind or layout.header_len != size or layout.body_len or layout.seq:
        raise E.HandshakeError(
            f"kind={layout.kind} ({KINDS.get(layout.kind, '?')}), header_len={layout.header_len}, "
            f"body_len={layout.body_len}; expected kind={kind} ({KINDS[kind]}) with a "
            f"{size}-byte payload (a peer must complete the handshake before sending data)"
        )
    return size


class ClientHandshake:
    """Client side: send ``hello``, feed the server's reply to ``on_server_hello``."""

    def __init__(self, secret: bytes, limits: ChannelLimits | None = None) -> None:
        self._secret = secret
        self._limits = limits
        self.client_random = new_random()
        self.hello = handshake_frame(KIND_HELLO, self.client_random)

    def on_server_hello(self, prefix: bytes, payload: bytes) -> tuple[bytes, Channel]:
        """The FINISH frame to send and the connection's channel; ``BadHmac`` for a wrong server."""
        sr, mac = payload[:RANDOM_BYTES], payload[RANDOM_BYTES:]
        auth, _, _ = derive_keys(self._secret, self.client_random, sr)
        transcript = self.hello + prefix + sr
        check_mac(handshake_mac(auth, b"server", transcript), mac, "server")
        finish = handshake_frame(KIND_FINISH, handshake_mac(auth, b"client", transcript))
        return finish, Channel.for_client(self._secret, self.client_random, sr, self._limits)


class ServerHandshake:
    """Server side: ``on_hello`` returns SERVER_HELLO; ``on_finish`` returns the channel."""

    def __init__(self, secret: bytes, limits: ChannelLimits | None = None) -> None:
        self._secret = secret
        self._limits = limits
        self._transcript = b""
        self._auth = b""
        self._cr = self._sr = b""
        self.expecting_hello = True

    def on_hello(self, prefix: bytes, payload: bytes) -> bytes:
        self.expecting_hello = False
        self._cr, self._sr = bytes(payload), new_random()
        self._auth, _, _ = derive_keys(self._secret, self._cr, self._sr)
        hello = bytes(prefix) + self._cr
        reply_prefix = PREFIX.pack(
            MAGIC, PROTOCOL_VERSION, KIND_SERVER_HELLO, 0, PAYLOAD_BYTES[KIND_SERVER_HELLO], 0, 0
        )
        self._transcript = hello + reply_prefix + self._sr
        mac = handshake_mac(self._auth, b"server", self._transcript)
        return reply_prefix + self._sr + mac

    def on_finish(self, payload: bytes) -> Channel:
        if not self._auth:
            raise E.HandshakeError("finish before hello")
        check_mac(handshake_mac(self._auth, b"client", self._transcript), bytes(payload), "client")
        return Channel.for_server(self._secret, self._cr, self._sr, self._limits)
