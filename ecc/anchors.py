"""Published figures the cost model must land near, and the check that compares them."""

from __future__ import annotations

from dataclasses import dataclass

from ecc.cost import Partition, latency_breakdown
from ecc.hardware import load_profile
from ecc.network.link import link_preset
from ecc.trace import build_trace


@dataclass(frozen=True)
class Anchor:
    """One published number: ``quantity`` of ``arch`` on ``hardware`` (ms or bytes)."""

    name: str
    arch: str
    hardware: str
    quantity: str  # "latency_ms" (device-only, one action) or "weights_bytes"
    published: float
    source: str
    tolerance: float = 0.30  # relative


ANCHORS: tuple[Anchor, ...] = (
    Anchor("OpenVLA-7B bf16 on A100", "openvla-7b", "a100_80gb", "latency_ms", 135.0,
           "OpenVLA (arXiv 2406.09246) / RoboECC: ~135 ms per action on an A100"),
    Anchor("OpenVLA-7B bf16 edge-only on Orin", "openvla-7b", "orin_agx_64gb", "latency_ms", 782.5,
           "RAPID (arXiv 2603.07949) edge-only 782.5 +- 28.5 ms"),
    Anchor("OpenVLA-7B bf16 weights", "openvla-7b", "a100_80gb", "weights_bytes", 15.2e9,
           "DyQ-VLA (arXiv 2603.07904) Table I: 15.2 GB in BF16"),
)  # fmt: skip


@dataclass(frozen=True)
class AnchorResult:
    anchor: Anchor
    predicted: float

    @property
    def rel_error(self) -> float:
        return self.predicted / self.anchor.published - 1.0

    @property
    def ok(self) -> bool:
        return abs(self.rel_error) <= self.anchor.tolerance


def check_anchors(
    anchors: tuple[Anchor, ...] = ANCHORS, precision: str = "bf16"
) -> list[AnchorResult]:
    """Predict every anchor from the trace and the named hardware profile."""
    out = []
    for a in anchors:
        tr = build_trace(a.arch, granularity="block")
        hw = load_profile(a.hardware)
        # The device runs everything itself; the other side and the link are never used.
        bd = latency_breakdown(tr, Partition.edge_only(tr), hw, hw, link_preset("ethernet"), precision,
                               charge_io=False)  # fmt: skip
        if a.quantity == "latency_ms":
            value = bd.edge_ms
        else:  # weights only: the published figure excludes the KV cache
            value = float((tr.arrays["unit_params"] * hw.weight_bytes_per_elem(precision)).sum())
        out.append(AnchorResult(a, value))
    return out
