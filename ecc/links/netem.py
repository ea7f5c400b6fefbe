"""Linux netem on both ends of a veth pair: delay, jitter, loss and rate all in the kernel.

Used only where the kernel has sch_netem (``probe.netem_available``). netem's loss is
real packet loss, so TCP's own retransmissions pay for it (no modelled penalty).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ecc.links.base import LinkConfig
from ecc.links.errors import LinkConfigError
from ecc.links.namespaced import NamespacedLink
from ecc.links.tc import netem_parameters


@dataclass(frozen=True)
class NetemState:
    """What is installed on the two ends: rates in bit/s, times in ms."""

    up_bps: float
    down_bps: float
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0


class NetemLink(NamespacedLink):
    """Everything shaped by netem qdiscs (egress of each veth end)."""

    kind = "netem"

    def __init__(self, config: LinkConfig | None = None, limit_packets: int = 10_000) -> None:
        super().__init__(config or LinkConfig(kind="netem"))
        c = self.config
        self.limit_packets = limit_packets
        self.state = NetemState(c.up_mbps * 1e6, c.down_mbps * 1e6, c.delay_ms, c.jitter_ms, c.loss)
        try:
            self._install(self.state)
        except Exception:
            self.close()
            raise

    def end_parameters(self, state: NetemState) -> dict[str, dict[str, object]]:
        """netem keyword arguments per end ("edge" shapes up, "cloud" shapes down)."""
        common = {
            "delay_ms": state.delay_ms,
            "jitter_ms": state.jitter_ms,
            "loss": state.loss,
            "limit_packets": self.limit_packets,
            "count_headers": self.config.tbf.count_headers,
            "mtu": self.config.tbf.mtu,
        }
        return {
            "edge": netem_parameters(rate_bps=state.up_bps, **common),
            "cloud": netem_parameters(rate_bps=state.down_bps, **common),
        }

    def _install(self, state: NetemState) -> None:
        params = self.end_parameters(state)  # validates before touching the kernel
        for role in ("edge", "cloud"):
            self._replace_qdisc(role, "netem", params[role])
        self.state = state

    def expose(self, server_addr: tuple[str, int]) -> tuple[str, int]:
        """No relay: the edge connects straight to the server on the cloud end's address."""
        if server_addr[0] != self.pair.cloud_ip:
            raise LinkConfigError(
                "server_addr",
                server_addr,
                f"a socket from link.listen() (host {self.pair.cloud_ip})",
            )
        return server_addr

    def set_rate(self, up_bps: float, down_bps: float) -> None:
        """netem rate (goodput, bit/s) per direction."""
        self._install(replace(self.state, up_bps=float(up_bps), down_bps=float(down_bps)))

    def set_delay(self, delay_ms: float, jitter_ms: float = 0.0) -> None:
        """netem delay and jitter (ms) on both ends."""
        self._install(replace(self.state, delay_ms=float(delay_ms), jitter_ms=float(jitter_ms)))

    def set_loss(self, p: float) -> None:
        """netem random loss probability on both ends."""
        self._install(replace(self.state, loss=float(p)))
