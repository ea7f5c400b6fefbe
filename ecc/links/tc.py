"""Kernel qdisc parameters (pure functions, testable without root) and their application via pyroute2.

Parameter validation and unit conversion live here, separate from the netlink calls,
so the message contents can be unit-tested without root (as pyroute2 does itself).

Rate semantics: a link's rate is *application goodput* in bit/s, the figure the
analytic link model uses. A qdisc counts whole packets (Ethernet + IP + TCP headers),
so the kernel rate is raised by ``wire_bytes / payload_bytes`` per full-size segment
(1514 / 1448 = +4.6% at MTU 1500) unless ``count_headers=True``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from pyroute2 import IPRoute

from ecc.links.errors import LinkConfigError

log = logging.getLogger(__name__)

ETH_HEADER = 14
IP_TCP_HEADERS = 52  # IPv4 20 + TCP 20 + timestamps option 12


@dataclass(frozen=True)
class TbfSettings:
    """Researcher-facing TBF knobs.

    ``burst_ms``: bucket depth as time at the configured rate (ms); a deeper bucket
    lets a burst leave at line speed, a shallower one needs finer timers.
    ``queue_ms``: queue limit as time at the rate (ms) (floored at ``min_queue_bytes``,
    which keeps TCP small-queue bursts from being dropped).
    """

    mtu: int = 1500
    burst_ms: float = 1.0
    queue_ms: float = 200.0
    min_queue_bytes: int = 2 * 2**20
    count_headers: bool = False

    def __post_init__(self) -> None:
        if not 576 <= self.mtu <= 65535:
            raise LinkConfigError("tbf.mtu", self.mtu, "576 .. 65535 bytes")
        if not 0 < self.burst_ms <= 1000:
            raise LinkConfigError("tbf.burst_ms", self.burst_ms, "(0, 1000] ms")
        if not 0 < self.queue_ms <= 10_000:
            raise LinkConfigError("tbf.queue_ms", self.queue_ms, "(0, 10000] ms")
        if self.min_queue_bytes < 0:
            raise LinkConfigError("tbf.min_queue_bytes", self.min_queue_bytes, ">= 0 bytes")


def wire_factor(mtu: int) -> float:
    """Wire bytes per payload byte of a full-size TCP segment at ``mtu``."""
    return (mtu + ETH_HEADER) / (mtu - IP_TCP_HEADERS)


def check_rate(field: str, bps: float) -> float:
    """Validate a rate in bit/s (positive, finite, below what a u32 byte/s field holds)."""
    if not (isinstance(bps, int | float) and math.isfinite(bps) and 1e3 <= bps <= 32e9):
        raise LinkConfigError(field, bps, "1e3 .. 32e9 bit/s")
    return float(bps)


def tbf_parameters(rate_bps: float, settings: TbfSettings | None = None) -> dict[str, object]:
    """Keyword arguments of ``IPRoute.tc(cmd, "tbf", index, **kw)`` for a goodput of ``rate_bps``."""
    s = settings or TbfSettings()
    check_rate("rate_bps", rate_bps)
    wire_bps = rate_bps if s.count_headers else rate_bps * wire_factor(s.mtu)
    bytes_per_s = wire_bps / 8
    frame = s.mtu + ETH_HEADER
    # The bucket must hold at least one (GSO-segmented) full frame or it never empties.
    burst = max(2 * frame, int(bytes_per_s * s.burst_ms / 1e3))
    limit = max(s.min_queue_bytes, int(bytes_per_s * s.queue_ms / 1e3) + burst)
    return {"rate": f"{round(wire_bps)}bit", "burst": burst, "limit": limit}


def netem_parameters(
    delay_ms: float = 0.0,
    jitter_ms: float = 0.0,
    loss: float = 0.0,
    rate_bps: float | None = None,
    limit_packets: int = 10_000,
    count_headers: bool = False,
    mtu: int = 1500,
) -> dict[str, object]:
    """Keyword arguments of ``IPRoute.tc(cmd, "netem", index, **kw)``.

    pyroute2 takes delay and jitter in microseconds and loss in percent. netem's rate
    counts whole packets, hence the same goodput correction as TBF.
    """
    if not (math.isfinite(delay_ms) and 0 <= delay_ms <= 60_000):
        raise LinkConfigError("delay_ms", delay_ms, "0 .. 60000 ms")
    if not (math.isfinite(jitter_ms) and 0 <= jitter_ms <= 60_000):
        raise LinkConfigError("jitter_ms", jitter_ms, "0 .. 60000 ms")
    if not (0 <= loss < 1):
        raise LinkConfigError("loss", loss, "[0, 1)")
    if not 1 <= limit_packets <= 2**31:
        raise LinkConfigError("limit_packets", limit_packets, "1 .. 2**31 packets")
    kw: dict[str, object] = {
        "delay": round(delay_ms * 1000),
        "jitter": round(jitter_ms * 1000),
        "loss": loss * 100.0,
        "limit": int(limit_packets),
    }
    if rate_bps is not None:
        check_rate("rate_bps", rate_bps)
        wire = rate_bps if count_headers else rate_bps * wire_factor(mtu)
        kw["rate"] = f"{round(wire)}bit"
    return kw


def replace_root_qdisc(netns: str, ifname: str, kind: str, params: dict[str, object]) -> None:
    """Install or update the root qdisc ``kind`` on ``ifname`` inside ``netns``."""
    with IPRoute(netns=netns) as ipr:
        idx = ipr.link_lookup(ifname=ifname)[0]
        ipr.tc("replace", kind, idx, handle="1:", **params)


def delete_root_qdisc(netns: str, ifname: str) -> None:
    """Remove the root qdisc of ``ifname`` in ``netns`` (back to the default)."""
    with IPRoute(netns=netns) as ipr:
        idx = ipr.link_lookup(ifname=ifname)[0]
        ipr.tc("del", index=idx, root=True)


def root_qdisc_kind(netns: str, ifname: str) -> str | None:
    """The kind of the root qdisc on ``ifname`` (e.g. 'tbf'), for tests and logs."""
    with IPRoute(netns=netns) as ipr:
        idx = ipr.link_lookup(ifname=ifname)[0]
        for q in ipr.get_qdiscs(index=idx):
            if q.get("parent") == 0xFFFFFFFF:
                return q.get_attr("TCA_KIND")
    return None
