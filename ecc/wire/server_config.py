"""Resource limits and counters of a ``FrameServer`` (the design is in ``ecc.wire.server``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ecc.wire import errors as E
from ecc.wire.secure import ChannelLimits


@dataclass(frozen=True)
class ServerConfig:
    """Resource limits of a ``FrameServer`` (times in s, sizes in bytes).

    ``max_conn_bytes`` / ``max_send_queue_bytes`` default to twice the codec's max frame size.
    """

    max_connections: int = 256
    # One handler thread: the tiny models' stages are many sub-ms torch ops, each taking the GIL, so
    # extra threads convoy instead of using more cores (measured, 8 serve_load clients on 2 cores:
    # 1 / 2 / 4 workers -> 51.3 / 34.5 / 19.6 inferences/s; docs/emulation.md). Raise it for models
    # whose ops are long enough to release the GIL for most of their time (large layers, a GPU).
    workers: int = 1
    handshake_timeout_s: float = 3.0
    idle_timeout_s: float = 300.0
    frame_timeout_s: float = 30.0  # a frame started must keep arriving (no byte this long: close)
    send_timeout_s: float = 10.0
    max_pending_requests: int = 4
    max_conn_bytes: int | None = None
    max_send_queue_bytes: int | None = None
    max_total_bytes: int = 1 << 30
    stall_after_s: float = 30.0
    accept_backoff_s: float = 0.05
    accept_backoff_max_s: float = 1.0
    channel_limits: ChannelLimits = field(default_factory=ChannelLimits)

    def __post_init__(self) -> None:
        for name in ("max_connections", "workers", "max_pending_requests", "max_total_bytes"):
            if getattr(self, name) < 1:
                raise E.WireConfigError(f"{name}={getattr(self, name)}; allowed: >= 1")
        for name in (
            "handshake_timeout_s",
            "idle_timeout_s",
            "frame_timeout_s",
            "send_timeout_s",
            "stall_after_s",
            "accept_backoff_s",
            "accept_backoff_max_s",
        ):
            if not getattr(self, name) > 0:
                raise E.WireConfigError(f"{name}={getattr(self, name)}; allowed: > 0 seconds")


@dataclass
class ServerStats:
    """Counters since start."""

    requests: int = 0  # handled by a handler
    rejected: int = 0  # frames (or handshakes) that failed validation
    errors: int = 0  # handler failures
    handshakes: int = 0  # authenticated connections
    timeouts: int = 0  # connections closed for a handshake, idle, frame or send timeout
    evicted: int = 0  # unauthenticated connections closed to admit a newer one
    refused: int = 0  # connections closed at once: the cap was reached by authenticated peers
    slow_readers: int = 0  # connections closed because their replies piled up
    accept_errors: int = 0  # accept() failures (EMFILE, ...), the loop went on
