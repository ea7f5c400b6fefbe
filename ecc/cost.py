"""Latency of one action generation under a partition: the reference cost model.

``latency_breakdown`` walks the trace stage by stage in execution order, places each
stage by its unit, and charges a message at every device change carrying the tensors
the receiving side reads whose latest version it lacks (the rule of ``agents/staged.py``).
It is deliberately plain (no prefix sums) so the vectorised planners in ``ecc.cuts`` can
be checked against it, and it is the function the simulated and emulated runtimes are
held to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from agents.holders import Holders
from ecc.errors import InvalidValueError, UnknownNameError, check_choice
from ecc.hardware import HardwareProfile, check_precision, stage_latency_ms
from ecc.network.link import LinkState
from ecc.trace_types import ExecutionTrace

DIRECTIONS = ("edge_prefix", "cloud_prefix")
Precision = str | Mapping[str, str]


def _dotted_prefixes(name: str) -> list[str]:
    """``a.b.c`` -> ``["a.b.c", "a.b", "a"]`` (longest first)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def resolve_precisions(trace: ExecutionTrace, precision: Precision) -> list[str]:
    """Per-stage precision. ``precision`` is one name or a map ``{name or prefix: precision}``.

    With a map, a key applies to the stage of that name and to every stage below it in the
    dotted hierarchy (``llm.decode`` covers ``llm.decode.t3.layer1``; ``llm.layer1`` covers
    unit ``llm.layer1.attn`` but not ``llm.layer10``); the longest matching key wins, stage
    names before unit names. ``"default"`` (else ``"bf16"``) covers the rest. Keys may be
    stage names (``llm.prefill.layer3``) or unit names (``llm.layer3``, which covers prefill
    and decode alike). Lookup is O(name depth) per stage.
    """
    if isinstance(precision, str):
        check_precision(precision)
        return [precision] * len(trace.stages)
    pm = dict(precision)
    for k, v in pm.items():
        try:
            check_precision(v)
        except UnknownNameError as e:
            raise UnknownNameError(f"precision[{k!r}]", v, e.allowed) from e
    default = pm.pop("default", "bf16")
    out = []
    for s in trace.stages:
        hit = next((pm[k] for k in _dotted_prefixes(s.name) if k in pm), None)
        if hit is None:
            hit = next(
                (pm[k] for k in _dotted_prefixes(trace.units[s.unit].name) if k in pm), default
            )
        out.append(hit)
    return out


def stage_times_ms(
    trace: ExecutionTrace, hw: HardwareProfile, precision: Precision = "bf16"
) -> np.ndarray:
    """Roofline latency of every stage on ``hw`` in ms.

    Memory traffic = weights read at the stage's precision + activations (``trace.act_bytes``
    per value; 4 bytes under fp32).
    """
    a = trace.arrays
    if isinstance(precision, str):  # one precision: scalars, no per-stage Python work
        fps, wb = hw.flops_per_s(precision), hw.weight_bytes_per_elem(precision)
        act_b = 4.0 if precision == "fp32" else trace.act_bytes
    else:
        precs = resolve_precisions(trace, precision)
        table = {p: (hw.flops_per_s(p), hw.weight_bytes_per_elem(p)) for p in set(precs)}
        fps = np.array([table[p][0] for p in precs])
        wb = np.array([table[p][1] for p in precs])
        act_b = np.array([4.0 if p == "fp32" else trace.act_bytes for p in precs])
    mem = a["weight_elems"] * wb + a["act_elems"] * act_b
    return stage_latency_ms(
        a["flops"],
        mem,
        a["kernels"],
        fps,
        hw.bytes_per_s,
        hw.kernel_overhead_ms,
        hw.stage_overhead_ms,
    )


def unit_weight_bytes(
    trace: ExecutionTrace, hw: HardwareProfile, precision: Precision = "bf16"
) -> np.ndarray:
    """Resident bytes per unit (weights at the unit's precision plus its KV cache)."""
    a = trace.arrays
    if isinstance(precision, str):
        check_precision(precision)
        return (
            a["unit_params"] * hw.weight_bytes_per_elem(precision)
            + a["unit_kv_elems"] * trace.act_bytes
        )
    precs = resolve_precisions(trace, precision)
    unit_prec = ["bf16"] * trace.n_units
    for s, p in zip(reversed(trace.stages), reversed(precs)):
        unit_prec[s.unit] = p
    wb = np.array([hw.weight_bytes_per_elem(p) for p in unit_prec])
    return a["unit_params"] * wb + a["unit_kv_elems"] * trace.act_bytes


@dataclass(frozen=True)
class Partition:
    """Which units run on the cloud. ``cut``/``direction`` are set for single-cut plans."""

    on_cloud: tuple[bool, ...]
    cut: int | None = None
    direction: str = "edge_prefix"
    label: str = ""

    @classmethod
    def single_cut(
        cls, trace: ExecutionTrace, cut: int, direction: str = "edge_prefix"
    ) -> Partition:
        """Units ``< cut`` on the edge (``edge_prefix``) or on the cloud (``cloud_prefix``)."""
        check_choice("direction", direction, DIRECTIONS)
        if not 0 <= cut <= trace.n_units:
            raise InvalidValueError("cut", cut, f"0..{trace.n_units}")
        idx = np.arange(trace.n_units)
        mask = idx >= cut if direction == "edge_prefix" else idx < cut
        return cls(tuple(bool(x) for x in mask), cut, direction, trace.cut_name(cut))

    @classmethod
    def edge_only(cls, trace: ExecutionTrace) -> Partition:
        return cls((False,) * trace.n_units, trace.n_units, "edge_prefix", "edge_only")

    @classmethod
    def cloud_only(cls, trace: ExecutionTrace) -> Partition:
        return cls((True,) * trace.n_units, 0, "edge_prefix", "cloud_only")


@dataclass
class Transfer:
    """One message: sent before stage ``before_stage`` (index; len(stages) = the final download)."""

    before_stage: int
    direction: str  # "up" (edge -> cloud) or "down"
    nbytes: int
    tensors: tuple[str, ...]


@dataclass
class LatencyBreakdown:
    """Latency of one action generation (ms) and what moved (bytes, messages)."""

    edge_ms: float
    cloud_ms: float
    uplink_ms: float
    downlink_ms: float
    bytes_up: int
    bytes_down: int
    msgs_up: int
    msgs_down: int
    edge_mem_bytes: float
    cloud_mem_bytes: float
    transfers: list[Transfer] = field(default_factory=list, repr=False)

    @property
    def total_ms(self) -> float:
        """End-to-end latency: compute and transfers run in series (ms)."""
        return self.edge_ms + self.cloud_ms + self.uplink_ms + self.downlink_ms

    @property
    def round_trips(self) -> int:
        """Edge -> cloud -> edge excursions (the larger of the two message counts)."""
        return max(self.msgs_up, self.msgs_down)

    def as_dict(self) -> dict[str, float]:
        return {
            "total_ms": self.total_ms, "edge_ms": self.edge_ms, "cloud_ms": self.cloud_ms,
            "uplink_ms": self.uplink_ms, "downlink_ms": self.downlink_ms, "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down, "msgs_up": self.msgs_up, "msgs_down": self.msgs_down,
            "round_trips": self.round_trips, "edge_mem_bytes": self.edge_mem_bytes,
            "cloud_mem_bytes": self.cloud_mem_bytes,
        }  # fmt: skip


def plan_transfers(
    trace: ExecutionTrace, partition: Partition, charge_io: bool = True
) -> list[Transfer]:
    """Messages of one generation under ``partition`` (execution-order walk).

    With ``charge_io=False`` (RoboECC's convention) the inputs are present on both sides
    and the final actions need not come back, so neither is charged.
    """
    if len(partition.on_cloud) != trace.n_units:
        raise InvalidValueError(
            "partition.on_cloud", len(partition.on_cloud), f"length {trace.n_units}"
        )
    loc = Holders()
    size: dict[str, int] = {}
    for t, n in trace.inputs.items():
        loc.hold(t, ("edge",) if charge_io else ("edge", "cloud"))
        size[t] = n
    for t in trace.free_inputs:
        loc.hold(t, ("edge", "cloud"))
        size[t] = 0
    transfers: list[Transfer] = []
    here = "edge" if charge_io else None
    current: list = []  # [direction, bytes, tensors, before_stage] of the message into `here`

    def close() -> None:
        if current:
            transfers.append(Transfer(current[3], current[0], current[1], tuple(current[2])))

    for i, st in enumerate(trace.stages):
        dev = "cloud" if partition.on_cloud[st.unit] else "edge"
        if here is not None and dev != here:
            close()
            current = ["up" if dev == "cloud" else "down", 0, [], i]
        here = dev
        for t in st.reads:
            if not loc.has(t, dev):
                # Sent eagerly with the message that brought execution to this side.
                current[1] += size[t]
                current[2].append(t)
                loc.copy(t, dev)
        for t, n in st.writes:
            loc.write(t, dev)
            size[t] = n
    if charge_io and here != "edge":
        close()
        missing = [t for t in trace.outputs if not loc.has(t, "edge")]
        current = ["down", sum(size[t] for t in missing), missing, len(trace.stages)]
    close()
    return transfers


def latency_breakdown(
    trace: ExecutionTrace,
    partition: Partition,
    edge: HardwareProfile,
    cloud: HardwareProfile,
    link: LinkState,
    precision: Precision = "bf16",
    *,
    charge_io: bool = True,
    edge_times_ms: np.ndarray | None = None,
    cloud_times_ms: np.ndarray | None = None,
) -> LatencyBreakdown:
    """Latency breakdown of one action generation (the reference model).

    Args:
        trace: the execution trace (``ecc.trace.build_trace``).
        partition: stage placement.
        edge, cloud: hardware profiles.
        link: link state during this generation (bandwidths in Mbit/s, delays in ms).
        precision: one precision or a per-stage map (see :func:`resolve_precisions`).
        charge_io: charge the image upload and action download (False: RoboECC convention).
        edge_times_ms, cloud_times_ms: precomputed :func:`stage_times_ms` (for speed).
    """
    te = stage_times_ms(trace, edge, precision) if edge_times_ms is None else edge_times_ms
    tc = stage_times_ms(trace, cloud, precision) if cloud_times_ms is None else cloud_times_ms
    units = trace.arrays["unit"]
    oc = np.asarray(partition.on_cloud, dtype=bool)
    st_cloud = oc[units]
    transfers = plan_transfers(trace, partition, charge_io)
    up = [t for t in transfers if t.direction == "up"]
    down = [t for t in transfers if t.direction == "down"]
    ub_e = unit_weight_bytes(trace, edge, precision)
    ub_c = unit_weight_bytes(trace, cloud, precision)
    return LatencyBreakdown(
        edge_ms=float(te[~st_cloud].sum()),
        cloud_ms=float(tc[st_cloud].sum()),
        uplink_ms=float(sum(link.message_ms(t.nbytes, "up") for t in up)),
        downlink_ms=float(sum(link.message_ms(t.nbytes, "down") for t in down)),
        bytes_up=int(sum(t.nbytes for t in up)),
        bytes_down=int(sum(t.nbytes for t in down)),
        msgs_up=len(up),
        msgs_down=len(down),
        edge_mem_bytes=float(ub_e[~oc].sum()),
        cloud_mem_bytes=float(ub_c[oc].sum()),
        transfers=transfers,
    )


def sample_breakdown(
    bd: LatencyBreakdown, link: LinkState, rng: np.random.Generator
) -> LatencyBreakdown:
    """One random draw of ``bd``: every message's delay jittered and its lost segments drawn.

    Compute times stay at their roofline values; the expectation over draws equals ``bd``
    when the link has no loss (jitter has zero mean, truncated at zero delay).
    """
    up = sum(
        link.sample_message_ms(t.nbytes, "up", rng) for t in bd.transfers if t.direction == "up"
    )
    down = sum(
        link.sample_message_ms(t.nbytes, "down", rng) for t in bd.transfers if t.direction == "down"
    )
    return replace(bd, uplink_ms=float(up), downlink_ms=float(down))
