"""Vectorised evaluation of every single cut of a trace (numpy prefix sums).

For a single cut ``c`` two positions ``a`` and ``b`` of the unit chain sit on different
devices exactly when ``min(a, b) < c <= max(a, b)``, in either direction. So every
tensor version (one write, its readers) is transferred over an interval of cuts, and
every pair of consecutive stages switches device over an interval of cuts: difference
arrays turn the whole trace into per-cut bytes and message counts in one pass. Compute
and memory are prefix sums over units. The result matches ``ecc.cost.latency_breakdown``
cut for cut (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecc.cost import DIRECTIONS, Precision, stage_times_ms, unit_weight_bytes
from ecc.errors import check_choice
from ecc.hardware import HardwareProfile
from ecc.network.link import LinkState
from ecc.trace_types import ExecutionTrace


@dataclass(frozen=True)
class CutTransfers:
    """Per-cut traffic of one trace and direction: arrays of length ``n_cuts``."""

    direction: str
    charge_io: bool
    bytes_up: np.ndarray
    bytes_down: np.ndarray
    msgs_up: np.ndarray
    msgs_down: np.ndarray


def _add_interval(diff: np.ndarray, lo: np.ndarray, hi: np.ndarray, val: np.ndarray) -> None:
    """Add ``val`` to cuts ``c`` with ``lo < c <= hi`` (empty when lo >= hi)."""
    keep = lo < hi
    np.add.at(diff, lo[keep] + 1, val[keep])
    np.add.at(diff, hi[keep] + 1, -val[keep])


def _versions(trace: ExecutionTrace, charge_io: bool, src_pos: int) -> tuple[np.ndarray, ...]:
    """(writer position, min reader, max reader, bytes) of every tensor version that is read.

    Depends on the trace alone, so it is memoised on the trace (part of building it).
    """
    memo = trace.meta.setdefault("_versions", {})
    key = (charge_io, src_pos)
    if key not in memo:
        memo[key] = _versions_uncached(trace, charge_io, src_pos)
    return memo[key]


def _versions_uncached(
    trace: ExecutionTrace, charge_io: bool, src_pos: int
) -> tuple[np.ndarray, ...]:
    cur: dict[str, list] = {}
    done: list[list] = []
    if charge_io:
        for t, n in trace.inputs.items():
            cur[t] = [src_pos, None, None, n]
    for s in trace.stages:
        u = s.unit
        for t in s.reads:
            v = cur.get(t)
            if v is None:
                continue  # free or uncharged inputs: present on both sides
            v[1] = u if v[1] is None else min(v[1], u)
            v[2] = u if v[2] is None else max(v[2], u)
        for t, n in s.writes:
            if t in cur:
                done.append(cur[t])
            cur[t] = [u, None, None, n]
    if charge_io:
        for t in trace.outputs:
            v = cur[t]
            v[1] = src_pos if v[1] is None else min(v[1], src_pos)
            v[2] = src_pos if v[2] is None else max(v[2], src_pos)
    done.extend(cur.values())
    done = [v for v in done if v[1] is not None]
    arr = np.array(done, dtype=np.int64).reshape(-1, 4)
    return arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]


def cut_transfers(
    trace: ExecutionTrace, direction: str = "edge_prefix", charge_io: bool = True
) -> CutTransfers:
    """Bytes and messages in each direction for every cut ``0..n_units`` (cached per trace)."""
    check_choice("direction", direction, DIRECTIONS)
    return _cut_transfers(id(trace), trace, direction, charge_io)


_CACHE: dict[tuple[int, str, bool], tuple[ExecutionTrace, CutTransfers]] = {}


def _cut_transfers(
    key: int, trace: ExecutionTrace, direction: str, charge_io: bool
) -> CutTransfers:
    hit = _CACHE.get((key, direction, charge_io))
    if hit is not None and hit[0] is trace:
        return hit[1]
    n = trace.n_units
    edge_prefix = direction == "edge_prefix"
    src = -1 if edge_prefix else n  # a position that is on the edge for every cut
    w, rmin, rmax, nb = _versions(trace, charge_io, src)
    d_up = np.zeros(n + 3, dtype=np.int64)
    d_down = np.zeros(n + 3, dtype=np.int64)
    # Readers above the writer: transfer "forward" along the chain; below: "backward".
    fwd, bwd = (d_up, d_down) if edge_prefix else (d_down, d_up)
    _add_interval(fwd, w, rmax, nb)
    _add_interval(bwd, rmin, w, nb)
    seq = trace.arrays["unit"]
    if charge_io:
        seq = np.concatenate([[src], seq, [src]])
    a, b = seq[:-1], seq[1:]
    ones = np.ones(len(a), dtype=np.int64)
    m_up = np.zeros(n + 3, dtype=np.int64)
    m_down = np.zeros(n + 3, dtype=np.int64)
    mf, mb = (m_up, m_down) if edge_prefix else (m_down, m_up)
    up_pair = a < b
    _add_interval(mf, a[up_pair], b[up_pair], ones[up_pair])
    _add_interval(mb, b[~up_pair], a[~up_pair], ones[~up_pair])
    res = CutTransfers(
        direction,
        charge_io,
        *(np.cumsum(d)[: n + 1].astype(np.float64) for d in (d_up, d_down, m_up, m_down)),
    )
    _CACHE[(key, direction, charge_io)] = (trace, res)
    return res


@dataclass
class CutCosts:
    """Everything a planner needs per cut, for one trace, hardware pair and precision.

    ``edge_ms``/``cloud_ms``: compute in ms; ``edge_mem_bytes``/``cloud_mem_bytes``:
    resident weights + KV; ``cloud_flops_frac``: share of FLOPs on the cloud (the cloud load).
    """

    direction: str
    edge_ms: np.ndarray
    cloud_ms: np.ndarray
    edge_mem_bytes: np.ndarray
    cloud_mem_bytes: np.ndarray
    cloud_flops_frac: np.ndarray
    transfers: CutTransfers

    @property
    def n_cuts(self) -> int:
        return len(self.edge_ms)

    def latency_ms(self, link: LinkState) -> np.ndarray:
        """Expected latency of every cut under ``link`` (ms)."""
        au, bu = link.coefficients("up")
        ad, bd = link.coefficients("down")
        t = self.transfers
        return (self.edge_ms + self.cloud_ms + au * t.msgs_up + bu * t.bytes_up
                + ad * t.msgs_down + bd * t.bytes_down)  # fmt: skip

    def latency_grid_ms(
        self,
        up_mbps: np.ndarray,
        down_mbps: np.ndarray,
        delay_ms: np.ndarray,
        link: LinkState | None = None,
    ) -> np.ndarray:
        """Latency [n_conditions, n_cuts] for many (up, down, delay) conditions at once.

        Loss, overheads and MSS come from ``link`` (defaults of :class:`LinkState`).
        """
        base = link or LinkState(1.0, 1.0)
        lf_scale = base.loss / (1 - base.loss)
        up = np.asarray(up_mbps, float)[:, None] * 1e6
        dn = np.asarray(down_mbps, float)[:, None] * 1e6
        dl = np.asarray(delay_ms, float)[:, None]
        pen = 2 * dl if base.retransmit_penalty_ms is None else base.retransmit_penalty_ms
        lf = lf_scale * pen
        t = self.transfers
        per_msg_fixed = dl + base.overhead_ms + lf
        out = (self.edge_ms + self.cloud_ms)[None, :]
        out = out + t.msgs_up * (per_msg_fixed + base.overhead_bytes * 8e3 / up)
        out = out + t.bytes_up * (8e3 / up + lf / base.mss_bytes)
        out = out + t.msgs_down * (per_msg_fixed + base.overhead_bytes * 8e3 / dn)
        return out + t.bytes_down * (8e3 / dn + lf / base.mss_bytes)


def cut_costs(
    trace: ExecutionTrace,
    edge: HardwareProfile,
    cloud: HardwareProfile,
    precision: Precision = "bf16",
    direction: str = "edge_prefix",
    charge_io: bool = True,
    edge_times_ms: np.ndarray | None = None,
    cloud_times_ms: np.ndarray | None = None,
) -> CutCosts:
    """Per-cut compute, memory and traffic (prefix sums over units)."""
    check_choice("direction", direction, DIRECTIONS)
    n = trace.n_units
    units = trace.arrays["unit"]
    te = stage_times_ms(trace, edge, precision) if edge_times_ms is None else edge_times_ms
    tc = stage_times_ms(trace, cloud, precision) if cloud_times_ms is None else cloud_times_ms

    def prefix(per_stage: np.ndarray, by_unit: bool = False) -> np.ndarray:
        per_unit = per_stage if by_unit else np.bincount(units, weights=per_stage, minlength=n)
        return np.concatenate([[0.0], np.cumsum(per_unit)])

    pe, pc = prefix(te), prefix(tc)
    me = prefix(unit_weight_bytes(trace, edge, precision), True)
    mc = prefix(unit_weight_bytes(trace, cloud, precision), True)
    pf = prefix(trace.arrays["flops"])
    total_f = pf[-1] if pf[-1] > 0 else 1.0
    if direction == "edge_prefix":
        e_ms, c_ms, e_mem, c_mem, c_frac = pe, pc[-1] - pc, me, mc[-1] - mc, (pf[-1] - pf) / total_f
    else:
        e_ms, c_ms, e_mem, c_mem, c_frac = pe[-1] - pe, pc, me[-1] - me, mc, pf / total_f
    return CutCosts(
        direction, e_ms, c_ms, e_mem, c_mem, c_frac, cut_transfers(trace, direction, charge_io)
    )


def latency_per_cut_ms(
    costs: CutCosts, up_mbps: np.ndarray, down_mbps: np.ndarray, link: LinkState
) -> np.ndarray:
    """Latency of cut ``k`` at bandwidth ``up_mbps[k]`` / ``down_mbps[k]`` (one condition per cut), ms."""
    lf = link.loss / (1 - link.loss) * link.penalty_ms
    up = np.asarray(up_mbps, float) * 1e6
    dn = np.asarray(down_mbps, float) * 1e6
    t = costs.transfers
    fixed = link.delay_ms + link.overhead_ms + lf
    return (costs.edge_ms + costs.cloud_ms
            + t.msgs_up * (fixed + link.overhead_bytes * 8e3 / up) + t.bytes_up * (8e3 / up + lf / link.mss_bytes)
            + t.msgs_down * (fixed + link.overhead_bytes * 8e3 / dn)
            + t.bytes_down * (8e3 / dn + lf / link.mss_bytes))  # fmt: skip
