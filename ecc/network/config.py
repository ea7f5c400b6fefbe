"""The ``network`` config group: a link plus an optional bandwidth trace."""

from __future__ import annotations

from dataclasses import dataclass

from ecc.network.link import LinkState
from ecc.network.traces import BandwidthTrace


@dataclass
class Network:
    """A link (delays, loss, nominal bandwidth) and, optionally, a bandwidth trace over time.

    With a trace, the uplink follows it and the downlink keeps the link's down/up ratio.
    """

    link: LinkState
    trace: BandwidthTrace | None = None

    def link_at(self, t_s: float) -> LinkState:
        """Link state at time ``t_s`` (s)."""
        if self.trace is None:
            return self.link
        up = max(float(self.trace.at(t_s)), 1e-3)
        return self.link.with_bandwidth(up, up * self.link.down_mbps / self.link.up_mbps)
