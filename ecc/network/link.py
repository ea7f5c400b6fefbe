"""Analytic link model: what one message costs, and named presets.

Time of one message of ``n`` payload bytes in one direction (expected value, ms):

    delay_ms + overhead_ms + (n + overhead_bytes) * 8 / bw * 1e3
        + (n / mss_bytes + 1) * loss / (1 - loss) * retransmit_penalty_ms

The loss term is the expected number of lost segments times the recovery cost (one RTT
by default: a fast retransmit). Jitter has zero mean, so it enters only sampled times
(:meth:`LinkState.sample_message_ms`). The formula is linear in bytes and in message
count, which is what lets the planners evaluate every cut with prefix sums.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ecc.errors import InvalidValueError, UnknownNameError, check_positive


@dataclass(frozen=True)
class LinkState:
    """One link condition. Bandwidths in Mbit/s (1e6 bit/s), times in ms, loss in [0, 1)."""

    up_mbps: float
    down_mbps: float
    delay_ms: float = 1.0  # one-way propagation + queueing, each direction
    jitter_ms: float = 0.0  # standard deviation of the one-way delay
    loss: float = 0.0  # segment loss probability
    retransmit_penalty_ms: float | None = None  # None: one RTT (fast retransmit)
    overhead_bytes: int = 64  # per-message framing (headers, codec envelope)
    overhead_ms: float = 0.05  # per-message software cost (serialise, syscalls)
    mss_bytes: int = 1448
    name: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        check_positive("up_mbps", self.up_mbps)
        check_positive("down_mbps", self.down_mbps)
        check_positive("delay_ms", self.delay_ms, allow_zero=True)
        check_positive("jitter_ms", self.jitter_ms, allow_zero=True)
        check_positive("overhead_ms", self.overhead_ms, allow_zero=True)
        check_positive("overhead_bytes", self.overhead_bytes, allow_zero=True)
        check_positive("mss_bytes", self.mss_bytes)
        if not 0 <= self.loss < 1:
            raise InvalidValueError("loss", self.loss, "[0, 1)")
        if self.retransmit_penalty_ms is not None:
            check_positive("retransmit_penalty_ms", self.retransmit_penalty_ms, allow_zero=True)

    @property
    def up_bps(self) -> float:
        """Uplink bandwidth in bit/s."""
        return self.up_mbps * 1e6

    @property
    def down_bps(self) -> float:
        """Downlink bandwidth in bit/s."""
        return self.down_mbps * 1e6

    @property
    def penalty_ms(self) -> float:
        """Recovery cost of one lost segment in ms."""
        return (
            2 * self.delay_ms if self.retransmit_penalty_ms is None else self.retransmit_penalty_ms
        )

    def coefficients(self, direction: str) -> tuple[float, float]:
        """(ms per message, ms per payload byte) in ``direction`` ("up" or "down")."""
        bps = self.up_bps if direction == "up" else self.down_bps
        lf = self.loss / (1 - self.loss) * self.penalty_ms
        per_msg = self.delay_ms + self.overhead_ms + self.overhead_bytes * 8e3 / bps + lf
        per_byte = 8e3 / bps + lf / self.mss_bytes
        return per_msg, per_byte

    def message_ms(self, nbytes: float, direction: str) -> float:
        """Expected time of one message of ``nbytes`` payload bytes, in ms."""
        if direction not in ("up", "down"):
            raise InvalidValueError("direction", direction, "'up' or 'down'")
        a, b = self.coefficients(direction)
        return a + b * nbytes

    def sample_message_ms(self, nbytes: float, direction: str, rng: np.random.Generator) -> float:
        """One random draw: jittered delay (truncated at 0) and lost segments drawn explicitly."""
        bps = self.up_bps if direction == "up" else self.down_bps
        delay = (
            max(0.0, self.delay_ms + rng.normal(0.0, self.jitter_ms))
            if self.jitter_ms
            else self.delay_ms
        )
        segments = int(nbytes // self.mss_bytes) + 1
        lost = rng.binomial(segments, self.loss) if self.loss else 0
        return (
            delay
            + self.overhead_ms
            + (nbytes + self.overhead_bytes) * 8e3 / bps
            + lost * self.penalty_ms
        )

    def with_bandwidth(self, up_mbps: float, down_mbps: float | None = None) -> LinkState:
        """Same link at another bandwidth (down defaults to keeping the up/down ratio)."""
        if down_mbps is None:
            down_mbps = up_mbps * self.down_mbps / self.up_mbps
        return replace(self, up_mbps=up_mbps, down_mbps=down_mbps)


# Presets. Figures are representative medians, not measurements of a particular link:
#  ethernet: 1 GbE LAN, sub-ms one-way delay.
#  wifi: 802.11ac/ax in a lab, ~100 up / 200 down Mbit/s, few ms (Ookla Speedtest fixed/Wi-Fi medians, 2024).
#  5g: sub-6 GHz NSA, ~50 up / 300 down Mbit/s, ~10 ms one-way (Ookla 5G medians, 2024).
#  lte: Mahimahi recorded LTE driving traces: uplink ~1, downlink ~8 Mbit/s (docs anchors), ~30 ms one-way.
#  3g: Mahimahi UMTS traces: ~1 up / 2 down Mbit/s; ~60 ms one-way.
PRESETS: dict[str, LinkState] = {
    "ethernet": LinkState(1000, 1000, 0.25, 0.05, 0.0, name="ethernet", source="1 GbE LAN"),
    "wifi": LinkState(
        100, 200, 2.0, 1.0, 0.001, name="wifi", source="Ookla Speedtest Wi-Fi medians 2024"
    ),
    "5g": LinkState(50, 300, 10.0, 3.0, 0.001, name="5g", source="Ookla 5G medians 2024"),
    "lte": LinkState(1.0, 8.0, 30.0, 10.0, 0.005, name="lte", source="Mahimahi LTE driving traces"),
    "3g": LinkState(1.0, 2.0, 60.0, 20.0, 0.01, name="3g", source="Mahimahi UMTS traces"),
}


def link_preset(name: str) -> LinkState:
    """The preset called ``name`` (ethernet, wifi, 5g, lte, 3g)."""
    if name not in PRESETS:
        raise UnknownNameError("network", name, PRESETS)
    return PRESETS[name]
