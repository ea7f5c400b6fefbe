"""Exceptions of the wire layer.

Every rejection of network input is a ``ProtocolError`` subclass (itself a
``ValueError``) whose message names the field, the bad value and what was allowed,
so the log line of a rejected frame says why it was rejected.
"""

from __future__ import annotations

from core.errors import VeccError


class WireError(VeccError):
    """Base class of everything the wire package raises (a ``ValueError`` via ``VeccError``)."""


class WireConfigError(WireError, ValueError):
    """A codec or transport parameter given by the user is invalid."""


class ProtocolError(WireError, ValueError):
    """A frame received from the network is malformed, oversized or unauthenticated."""


class BadMagic(ProtocolError):
    """The frame does not start with the protocol magic."""


class UnsupportedVersion(ProtocolError):
    """The frame's protocol version is not one this codec speaks."""


class FrameTooLarge(ProtocolError):
    """The announced header or body length exceeds the configured maximum."""


class Truncated(ProtocolError):
    """The frame is shorter than its prefix announces."""


class TrailingBytes(ProtocolError):
    """The frame is longer than its prefix announces."""


class BadHmac(ProtocolError):
    """Authentication failed (handshake HMAC or AES-GCM tag): wrong secret or tampered bytes."""


class ReplayedFrame(ProtocolError):
    """The frame's sequence number is not the next one expected: replayed, reordered or foreign."""


class HandshakeError(ProtocolError):
    """The connection's key exchange failed (wrong message, wrong size or too late)."""


class BadHeader(ProtocolError):
    """The msgpack header is undecodable or violates the header schema."""


class BadDtype(ProtocolError):
    """A tensor's dtype is not in the whitelist."""


class ShapeMismatch(ProtocolError):
    """A tensor's shape, byte length or offset disagrees with the header or the body."""


class BadCompression(ProtocolError):
    """A tensor names an unknown compression or its compressed layout is inconsistent."""


class TransportError(WireError, ConnectionError):
    """The connection failed, closed early or timed out."""


class TransportTimeout(TransportError, TimeoutError):
    """A connect or read did not complete within its timeout."""


class ConnectionClosed(TransportError):
    """The peer closed the connection (cleanly between frames, or mid-frame)."""


class RemoteError(WireError, RuntimeError):
    """The server answered with an ``error`` message (unknown type or a failing handler)."""
