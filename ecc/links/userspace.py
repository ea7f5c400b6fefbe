"""Pure user-space link on loopback: no root needed.

Rate (or a delivery schedule per direction), delay, jitter and loss all come from the
``ShapingRelay``. Accuracy is limited by thread wake-up latency (~0.1 ms here) and, for
rates, by the relay's chunk size.
"""

from __future__ import annotations

import socket
from typing import Any

from ecc.links.base import Link, LinkConfig, check_target
from ecc.links.replay import DeliveryClock
from ecc.links.shaper import ShapeParams, ShapingRelay

LOOPBACK = "127.0.0.1"


class UserspaceLink(Link):
    """All shaping in a user-space relay on 127.0.0.1."""

    kind = "userspace"
    replays_schedules = True

    def __init__(self, config: LinkConfig | None = None) -> None:
        super().__init__(config or LinkConfig(kind="userspace"))
        c = self.config
        self.params = ShapeParams(
            up_bps=c.up_mbps * 1e6,
            down_bps=c.down_mbps * 1e6,
            delay_ms=c.delay_ms,
            jitter_ms=c.jitter_ms,
            loss=c.loss,
            loss_penalty_ms=c.loss_penalty_ms,
        )
        self._relays: list[ShapingRelay] = []

    def listen(self, port: int = 0, backlog: int = 16) -> socket.socket:
        """A server socket on loopback."""
        return socket.create_server((LOOPBACK, port), backlog=backlog)

    def edge_socket(self) -> socket.socket:
        """A plain TCP socket (the edge is this host)."""
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def expose(self, server_addr: tuple[str, int]) -> tuple[str, int]:
        """Start a shaping relay in front of ``server_addr`` (a loopback address); returns its address."""
        check_target(server_addr, allowed=())
        relay = ShapingRelay(
            socket.create_server((LOOPBACK, 0)),
            server_addr,
            self.params,
            chunk_bytes=self.config.chunk_bytes,
            queue_bytes=self.config.queue_bytes,
            seed=self.config.seed + len(self._relays),
        )
        self._relays.append(relay)
        return relay.address

    def set_rate(self, up_bps: float, down_bps: float) -> None:
        """Goodput per direction (bit/s), enforced by the relay's serialiser (ends a schedule replay)."""
        self.clocks = {}
        self.params.update(up_bps=float(up_bps), down_bps=float(down_bps), up_clock=None,
                           down_clock=None)  # fmt: skip

    def set_schedules(self, up: Any, down: Any, offset_s: float = 0.0) -> dict[str, DeliveryClock]:
        """Replay a delivery schedule per direction in the relay's FIFOs, from ``offset_s`` (s) in."""
        self.clocks = install_clocks(self.params, up, down, offset_s)
        return self.clocks

    def set_delay(self, delay_ms: float, jitter_ms: float = 0.0) -> None:
        """One-way delay and jitter (ms), enforced by the relay's propagator."""
        self.params.update(delay_ms=float(delay_ms), jitter_ms=float(jitter_ms))

    def set_loss(self, p: float) -> None:
        """Per-segment loss probability, charged as retransmission time."""
        self.params.update(loss=float(p))

    def _teardown(self) -> None:
        for relay in self._relays:
            relay.close()
        self._relays.clear()


def install_clocks(
    params: ShapeParams, up: Any, down: Any, offset_s: float
) -> dict[str, DeliveryClock]:
    """One ``DeliveryClock`` per direction on one epoch, installed in ``params``."""
    up_clock = DeliveryClock(up, offset_s=offset_s)
    down_clock = DeliveryClock(down, epoch=up_clock.epoch, offset_s=offset_s)
    params.update(up_clock=up_clock, down_clock=down_clock)
    return {"up": up_clock, "down": down_clock}
