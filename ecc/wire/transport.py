"""Blocking framed send/recv of sealed ``Message``s over TCP, with timeouts and client retries.

``connect`` opens a TCP connection and runs the handshake (``ecc.wire.handshake``), so every
``FramedSocket`` it returns holds the connection's own keys. A reader learns a frame's size from
its 28-byte prefix, refuses an oversized frame before reading it, and authenticates the header
before it allocates the body. A rejected frame is logged with its reason and the connection
should then be closed: after a bad frame the byte stream can no longer be trusted to be in sync.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ecc.wire import errors as E
from ecc.wire.codec import Codec, Message
from ecc.wire.frame import KIND_SERVER_HELLO, PREFIX_BYTES
from ecc.wire.handshake import ClientHandshake, expect
from ecc.wire.secure import Channel, ChannelLimits

log = logging.getLogger(__name__)

SocketFactory = Callable[[], socket.socket]
_IOV_CHUNK = 512  # stay well under IOV_MAX (1024 on Linux) per sendmsg call


@dataclass(frozen=True)
class TransportConfig:
    """Timeouts (s) and client retry policy.

    ``retries`` is the number of extra connect attempts; the wait before attempt k is
    ``min(backoff_s * 2**k, backoff_max_s)`` seconds.
    """

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 0.05
    backoff_max_s: float = 2.0
    channel_limits: ChannelLimits = field(default_factory=ChannelLimits)

    def __post_init__(self) -> None:
        for name in ("connect_timeout_s", "read_timeout_s", "backoff_s", "backoff_max_s"):
            value = getattr(self, name)
            if not value > 0:
                raise E.WireConfigError(f"{name}={value!r}; allowed: > 0 seconds")
        if not 0 <= self.retries <= 100:
            raise E.WireConfigError(f"retries={self.retries!r}; allowed: 0 .. 100")


def decode_or_log(
    codec: Codec, frame: bytes | bytearray | memoryview, peer: str, channel: Channel | None = None
) -> Message:
    """Decode ``frame``; on rejection log the reason (WARNING) and re-raise."""
    try:
        return codec.decode(frame, channel)
    except E.ProtocolError as e:
        log.warning("rejected frame from %s: %s: %s", peer, type(e).__name__, e)
        raise


def _recv_exact_into(sock: socket.socket, view: memoryview, what: str) -> None:
    got = 0
    while got < len(view):
        try:
            n = sock.recv_into(view[got:])
        except TimeoutError as e:
            raise E.TransportTimeout(
                f"read timed out after {got} of {len(view)} {what} bytes"
            ) from e
        if n == 0:
            raise E.ConnectionClosed(f"peer closed after {got} of {len(view)} {what} bytes")
        got += n


class FramedSocket:
    """One connected TCP socket speaking frames (either side).

    ``channel``: the connection's keys; None until ``handshake_as_client`` has run (a frame
    then cannot be sent or received).
    """

    def __init__(
        self,
        sock: socket.socket,
        codec: Codec,
        read_timeout_s: float = 30.0,
        channel: Channel | None = None,
    ) -> None:
        self.sock = sock
        self.codec = codec
        self.channel = channel
        self.sock.settimeout(read_timeout_s)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # Frames are whole messages: Nagle would only add latency to small replies.
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            name = sock.getpeername()
        except OSError:
            name = None
        self.peer = f"{name[0]}:{name[1]}" if isinstance(name, tuple) else str(name or "?")
        self.bytes_sent = 0
        self.bytes_received = 0

    def _sendall(self, bufs: list[memoryview]) -> int:
        total = sum(len(b) for b in bufs)
        pending = [b for b in bufs if len(b)]
        try:
            while pending:
                sent = self.sock.sendmsg(pending[:_IOV_CHUNK])
                while sent and pending:  # drop what went out, keep the unsent tail
                    if sent >= len(pending[0]):
                        sent -= len(pending.pop(0))
                    else:
                        pending[0] = pending[0][sent:]
                        sent = 0
        except TimeoutError as e:
            raise E.TransportTimeout(f"send to {self.peer} timed out") from e
        except OSError as e:
            raise E.TransportError(f"send to {self.peer} failed: {e}") from e
        self.bytes_sent += total
        return total

    def _read(self, n: int, what: str) -> bytearray:
        buf = bytearray(n)
        try:
            _recv_exact_into(self.sock, memoryview(buf), what)
        except OSError as e:
            if isinstance(e, E.TransportError):
                raise
            raise E.TransportError(f"recv from {self.peer} failed: {e}") from e
        self.bytes_received += n
        return buf

    def _reject(self, e: E.ProtocolError) -> None:
        log.warning("rejected frame from %s: %s: %s", self.peer, type(e).__name__, e)

    def handshake_as_client(self, limits: ChannelLimits | None = None) -> None:
        """Run the client side of the key exchange (one round trip); sets ``channel``."""
        hs = ClientHandshake(self.codec.secret, limits)
        self._sendall([memoryview(hs.hello)])
        try:
            prefix = bytes(self._read(PREFIX_BYTES, "handshake prefix"))
        except E.ConnectionClosed as e:
            raise E.ConnectionClosed(
                f"{self.peer} closed the connection during the handshake (server full, "
                f"or a server that does not speak wire version 2): {e}"
            ) from e
        try:
            size = expect(self.codec.parse_prefix(prefix), KIND_SERVER_HELLO)
            payload = bytes(self._read(size, "handshake payload"))
            finish, channel = hs.on_server_hello(prefix, payload)
        except E.ProtocolError as e:
            self._reject(e)
            raise
        self._sendall([memoryview(finish)])
        self.channel = channel

    def _channel(self) -> Channel:
        if self.channel is None:
            raise E.HandshakeError(f"no handshake on the connection to {self.peer} yet")
        return self.channel

    def send(self, msg: Message, compress: Mapping[str, str] | None = None) -> int:
        """Seal and send one message; returns the frame size (bytes)."""
        return self._sendall(self.codec.encode_buffers(msg, compress, self._channel()))

    def recv(self) -> Message:
        """Receive one message; ``ProtocolError`` (logged) if the frame is bad."""
        channel = self._channel()
        prefix = bytes(self._read(PREFIX_BYTES, "prefix"))
        try:
            layout = self.codec.parse_prefix(prefix)
        except E.ProtocolError as e:
            self._reject(e)
            raise
        sealed_header = self._read(layout.header_len, "frame")
        try:
            head = self.codec.open_header(layout, prefix, memoryview(sealed_header), channel)
        except E.ProtocolError as e:
            self._reject(e)
            raise
        # Only now, with the header authenticated, is the announced body size trusted.
        body = self._read(layout.body_len, "frame") if layout.body_len else None
        try:
            return self.codec.open_body(head, None if body is None else memoryview(body), channel)
        except E.ProtocolError as e:
            self._reject(e)
            raise

    def close(self) -> None:
        """Close the socket (idempotent)."""
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> FramedSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    address: tuple[str, int],
    codec: Codec,
    config: TransportConfig | None = None,
    socket_factory: SocketFactory | None = None,
) -> FramedSocket:
    """Connect with bounded retries and exponential backoff.

    ``socket_factory`` creates the unconnected socket (e.g. inside a network namespace);
    the default is an IPv4 TCP socket.
    """
    cfg = config or TransportConfig()
    factory = socket_factory or (lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    last: Exception | None = None
    for attempt in range(cfg.retries + 1):
        if attempt:
            wait = min(cfg.backoff_s * 2 ** (attempt - 1), cfg.backoff_max_s)
            log.info("connect to %s failed (%s); retry %d in %.3f s", address, last, attempt, wait)
            time.sleep(wait)
        sock = factory()
        sock.settimeout(cfg.connect_timeout_s)
        try:
            sock.connect(address)
        except OSError as e:  # refused, unreachable or timed out: all retryable
            sock.close()
            last = e
            continue
        conn = FramedSocket(sock, codec, cfg.connect_timeout_s)
        try:
            conn.handshake_as_client(cfg.channel_limits)
        except E.ProtocolError:
            conn.close()  # wrong secret or not our protocol: retrying cannot help
            raise
        except E.TransportError as e:  # dropped (e.g. evicted by a full server): retryable
            conn.close()
            last = e
            continue
        conn.sock.settimeout(cfg.read_timeout_s)
        return conn
    raise E.TransportError(
        f"could not connect to {address} after {cfg.retries + 1} attempts: {last}"
    )


class Client:
    """Request/reply client that reconnects (with the same retry policy) when the connection drops.

    A request is re-sent after a reconnect only when ``idempotent=True``: a request that
    reached the server must not run twice by accident. An ``error`` reply raises
    ``RemoteError`` (with the server's message) unless ``raise_remote_errors=False``.
    """

    def __init__(
        self,
        address: tuple[str, int],
        codec: Codec,
        config: TransportConfig | None = None,
        socket_factory: SocketFactory | None = None,
        raise_remote_errors: bool = True,
    ) -> None:
        self.raise_remote_errors = raise_remote_errors
        self.address = address
        self.codec = codec
        self.config = config or TransportConfig()
        self.socket_factory = socket_factory
        self._conn: FramedSocket | None = None
        self._next_id = 1

    def _connection(self) -> FramedSocket:
        ch = self._conn.channel if self._conn is not None else None
        if ch is not None and ch.expired(margin=0.9):
            # Renew keys before the server's limit closes the connection under a request.
            self.close()
        if self._conn is None:
            self._conn = connect(self.address, self.codec, self.config, self.socket_factory)
        return self._conn

    def request(
        self,
        msg: Message,
        compress: Mapping[str, str] | None = None,
        idempotent: bool = False,
        timeout_s: float | None = None,
    ) -> Message:
        """Send ``msg`` (a request id is assigned if it has none) and return the reply.

        ``timeout_s``: limit on each socket operation of this request instead of the configured
        read timeout (a deadline, in s); on expiry ``TransportTimeout`` and the connection is dropped.
        """
        if msg.request_id == 0:
            msg.request_id = self._next_id
            self._next_id += 1
        attempts = self.config.retries + 1 if idempotent else 1
        for attempt in range(attempts):
            conn = self._connection()
            try:
                if timeout_s is not None:
                    conn.sock.settimeout(max(timeout_s, 1e-4))
                conn.send(msg, compress)
                reply = conn.recv()
                if timeout_s is not None:
                    conn.sock.settimeout(self.config.read_timeout_s)
            except (E.TransportError, E.ProtocolError):
                self.close()
                if attempt + 1 >= attempts:
                    raise
                continue
            if reply.request_id != msg.request_id:
                self.close()
                raise E.BadHeader(f"reply request id={reply.request_id}; expected {msg.request_id}")
            if reply.type == "error" and self.raise_remote_errors:
                raise E.RemoteError(f"server error for {msg.type!r}: {reply.meta.get('error')}")
            return reply
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Drop the connection; the next request reconnects."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (for a server started just after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
