"""Kernel TBF rate shaping on a veth pair, plus a user-space relay for delay, jitter and loss.

For kernels without sch_netem (this machine, CI). TBF on each veth end shapes that
end's egress: the edge end carries the uplink, the cloud end the downlink. The relay
listens in the cloud namespace and forwards to the server there, so every byte
crosses the shaped veth and then (or, downstream, first) the relay's delay stage.

Delivery schedules (``set_schedules``, a trace given as ``ecc.network`` schedules) are replayed
by the relay, Mahimahi-exact; the kernel TBF is then opened to ``replay_kernel_mbps`` so it
only carries the bytes across the namespaces.
"""

from __future__ import annotations

from typing import Any

from ecc.links.base import LinkConfig, check_target
from ecc.links.namespaced import NamespacedLink
from ecc.links.netns import netns_socket
from ecc.links.replay import DeliveryClock
from ecc.links.shaper import ShapeParams, ShapingRelay
from ecc.links.tc import tbf_parameters
from ecc.links.userspace import install_clocks


class TbfUserspaceLink(NamespacedLink):
    """Rate in the kernel (TBF via pyroute2); delay, jitter and loss in user space."""

    kind = "tbf_userspace"
    replays_schedules = True

    def __init__(self, config: LinkConfig | None = None) -> None:
        super().__init__(config or LinkConfig(kind="tbf_userspace"))
        c = self.config
        # The relay adds no rate limit of its own: the kernel does that.
        self.params = ShapeParams(
            delay_ms=c.delay_ms,
            jitter_ms=c.jitter_ms,
            loss=c.loss,
            loss_penalty_ms=c.loss_penalty_ms,
            mss_bytes=c.tbf.mtu - 52,
        )
        self._relays: list[ShapingRelay] = []
        try:
            self.set_rate(c.up_mbps * 1e6, c.down_mbps * 1e6)
        except Exception:
            self.close()
            raise

    def expose(self, server_addr: tuple[str, int]) -> tuple[str, int]:
        """Start a relay on the cloud end's address forwarding to ``server_addr`` (in the cloud ns)."""
        check_target(server_addr, allowed=(self.pair.cloud_ip,))
        listen = self.listen()
        relay = ShapingRelay(
            listen,
            server_addr,
            self.params,
            connect_factory=lambda: netns_socket(self.pair.cloud_ns),
            chunk_bytes=self.config.chunk_bytes,
            queue_bytes=self.config.queue_bytes,
            seed=self.config.seed + len(self._relays),
        )
        self._relays.append(relay)
        return relay.address

    def set_rate(self, up_bps: float, down_bps: float) -> None:
        """TBF goodput (bit/s) on the edge end (up) and the cloud end (down); ends a schedule replay."""
        if getattr(self, "clocks", None):
            self.clocks = {}
            self.params.update(up_clock=None, down_clock=None)
        up = tbf_parameters(up_bps, self.config.tbf)
        down = tbf_parameters(down_bps, self.config.tbf)
        self._replace_qdisc("edge", "tbf", up)
        self._replace_qdisc("cloud", "tbf", down)

    def set_schedules(self, up: Any, down: Any, offset_s: float = 0.0) -> dict[str, DeliveryClock]:
        """Replay a delivery schedule per direction in the relay (from ``offset_s`` s in); the
        kernel TBF opens to ``config.replay_kernel_mbps`` on both ends."""
        fast = tbf_parameters(self.config.replay_kernel_mbps * 1e6, self.config.tbf)
        self._replace_qdisc("edge", "tbf", fast)
        self._replace_qdisc("cloud", "tbf", fast)
        self.clocks = install_clocks(self.params, up, down, offset_s)
        return self.clocks

    def set_delay(self, delay_ms: float, jitter_ms: float = 0.0) -> None:
        """One-way delay and jitter (ms), applied by the relay."""
        self.params.update(delay_ms=float(delay_ms), jitter_ms=float(jitter_ms))

    def set_loss(self, p: float) -> None:
        """Per-segment loss probability, charged by the relay as retransmission time."""
        self.params.update(loss=float(p))

    def _teardown(self) -> None:
        for relay in getattr(self, "_relays", []):
            relay.close()
        super()._teardown()
