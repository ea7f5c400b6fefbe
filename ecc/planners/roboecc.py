"""RoboECC: model-hardware co-aware split search plus network-aware adjustment.

Static search: every single cut of the trace (sub-layer boundaries included) is priced
with prefix sums; the feasible cut (edge / cloud memory, cloud-load budget) of least
latency wins, ties going to the lower cloud load.

Adjustment, once per action generation (never mid-inference):
1. each generation's transfers give a bandwidth sample (``ecc.network.predictors``);
   a generation that moved nothing sends a probe (its bytes are reported). ``probe_bytes=None``
   probes with the smallest upload among the pool's remote cuts: on a bursty recorded uplink a
   16 KB probe fits in one burst and overstates what an image upload would get;
2. a predictor forecasts the next bandwidth;
3. dual threshold on ``delta = predicted / reference - 1``: above ``high`` or below
   ``low`` the cut moves inside the parameter-sharing pool, else it stays. With
   ``conservative`` the prediction is capped by the last sample (drops act at once,
   rises are smoothed); with ``min_gain`` a move needs that relative latency gain. ``rule="paper"``
   moves to the pool cut with the largest (delta > high) or smallest (delta < low)
   boundary activation, as described in the paper; ``rule="reoptimize"`` (default) takes
   the pool cut of least predicted latency. The paper publishes no threshold values.
4. pool: ``pool_mode="radius"`` keeps the cuts within ``radius`` candidates of the offline
   optimum (paper default 1); ``pool_mode="optima"`` keeps the cuts that are optimal
   somewhere on a bandwidth grid (the far-apart optima of a VLA, e.g. cloud-only vs
   edge-only, are not neighbours). Units between the pool's extreme cuts are resident on
   both devices; their bytes are the pool's memory cost (``pool_memory_bytes``).
5. optional deadline fallback (``fallback_factor``, not in the paper; ``ecc.fallback``): a
   generation whose remote part overruns ``fallback_factor`` x what the planner expected at its
   bandwidth belief is finished on the edge, when the edge owns the prefix and can hold the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ecc.errors import InvalidValueError, check_choice
from ecc.fallback import DeadlineFallback, remote_ms
from ecc.network.link import LinkState
from ecc.network.predictors import make_predictor
from ecc.planners.base import Plan, PlanContext, Planner, best_cut


@dataclass
class PoolInfo:
    """Parameter-sharing pool: candidate cuts and the extra resident bytes they cost."""

    cuts: np.ndarray
    memory_bytes: float


class RoboECCPlanner(Planner):
    """RoboECC static search + network-aware adjustment."""

    name = "roboecc"

    def __init__(
        self,
        predictor: str = "ewma",
        predictor_kwargs: dict | None = None,
        high: float = 0.25,
        low: float = -0.2,
        pool_mode: str = "optima",
        radius: int = 1,
        pool_size: int = 4,
        pool_min_mbps: float = 0.5,
        pool_max_mbps: float = 1000.0,
        rule: str = "reoptimize",
        probe_bytes: int | None = 16_384,
        conservative: bool = True,
        min_gain: float = 0.1,
        fallback_factor: float | None = None,
        fallback_slack_ms: float = 20.0,
    ) -> None:
        check_choice("pool_mode", pool_mode, ("radius", "optima"))
        check_choice("rule", rule, ("reoptimize", "paper"))
        if not low < 0 < high:
            raise InvalidValueError(
                "low/high", (low, high), "low < 0 < high (relative bandwidth change)"
            )
        if radius < 0 or pool_size < 1:
            raise InvalidValueError(
                "radius/pool_size", (radius, pool_size), "radius >= 0, pool_size >= 1"
            )
        self.predictor_name, self.predictor_kwargs = predictor, dict(predictor_kwargs or {})
        self.high, self.low, self.pool_mode, self.radius = high, low, pool_mode, radius
        self.pool_size, self.pool_min_mbps, self.pool_max_mbps = (
            pool_size,
            pool_min_mbps,
            pool_max_mbps,
        )
        if probe_bytes is not None and probe_bytes < 0:
            raise InvalidValueError("probe_bytes", probe_bytes, ">= 0 bytes, or null (auto)")
        self.rule, self.probe_bytes_conf = rule, probe_bytes
        self.probe_bytes = 16_384 if probe_bytes is None else probe_bytes
        self.conservative, self.min_gain = conservative, min_gain
        if not 0 <= min_gain < 1:
            raise InvalidValueError(
                "min_gain", min_gain, "[0, 1) (relative latency gain to switch)"
            )
        self.fallback = (
            None
            if fallback_factor is None
            else DeadlineFallback(fallback_factor, fallback_slack_ms)
        )
        self.overhead_s: list[float] = []
        self.switches = 0

    # -- static ---------------------------------------------------------------------------
    def plan(self, ctx: PlanContext, link: LinkState) -> Plan:
        c = ctx.costs
        lat = c.latency_ms(link)
        cut = best_cut(lat, ctx.feasible(), c.cloud_flops_frac)
        return Plan(
            ctx.partition(cut), float(lat[cut]), self.name, {"cut_name": ctx.trace.cut_name(cut)}
        )

    # -- pool -------------------------------------------------------------------------------
    def build_pool(self, ctx: PlanContext, link: LinkState, center: int) -> PoolInfo:
        feas = ctx.feasible()
        if self.pool_mode == "radius":
            lo, hi = max(0, center - self.radius), min(ctx.trace.n_units, center + self.radius)
            cuts = np.array([k for k in range(lo, hi + 1) if feas[k]])
        else:
            grid = np.geomspace(self.pool_min_mbps, self.pool_max_mbps, 64)
            ratio = link.down_mbps / link.up_mbps
            lat = ctx.costs.latency_grid_ms(
                grid, grid * ratio, np.full(len(grid), link.delay_ms), link
            )
            lat = np.where(feas[None, :], lat, np.inf)
            winners, counts = np.unique(lat.argmin(axis=1), return_counts=True)
            keep = winners[np.argsort(-counts)][: self.pool_size]
            cuts = np.unique(np.append(keep, center))
        return PoolInfo(cuts, self.pool_memory_bytes(ctx, cuts))

    @staticmethod
    def pool_memory_bytes(ctx: PlanContext, cuts: np.ndarray) -> float:
        """Extra resident bytes: units between the pool's extreme cuts live on both devices."""
        lo, hi = int(cuts.min()), int(cuts.max())
        c = ctx.costs
        if ctx.direction == "edge_prefix":
            return float(c.edge_mem_bytes[hi] - c.edge_mem_bytes[lo])
        return float(c.cloud_mem_bytes[hi] - c.cloud_mem_bytes[lo])

    # -- adaptive ---------------------------------------------------------------------------
    def reset(self, ctx: PlanContext, link: LinkState) -> int:
        self._plan = self.plan(ctx, link)
        self.cut = int(self._plan.partition.cut)
        self.pool = self.build_pool(ctx, link, self.cut)
        if self.probe_bytes_conf is None:  # probe with what a switch would send: the smallest
            up = ctx.costs.transfers.bytes_up[self.pool.cuts]  # upload of the pool's remote cuts
            up = up[up > 0]
            self.probe_bytes = int(up.min()) if len(up) else 16_384
        self.ref_mbps = self.belief_mbps = link.up_mbps
        self.link = link
        # the edge must own the prefix and be able to hold the whole model (the edge-only cut)
        self.fallback_ok = (
            self.fallback is not None
            and ctx.direction == "edge_prefix"
            and bool(ctx.feasible()[-1])
        )
        self.predictor = make_predictor(self.predictor_name, **dict(self.predictor_kwargs))
        self.last_sample: float | None = None
        self.overhead_s, self.switches = [], 0
        return self.cut

    def observe(self, sample_mbps: float | None) -> None:
        t0 = time.perf_counter()
        if sample_mbps is not None and sample_mbps > 0:
            self.predictor.update(sample_mbps)
            self.last_sample = float(sample_mbps)
        self.overhead_s.append(time.perf_counter() - t0)

    def decide(self, ctx: PlanContext, t_s: float, true_link: LinkState | None = None) -> int:
        t0 = time.perf_counter()
        pred = self.predictor.predict()
        if pred is not None and self.conservative and self.last_sample is not None:
            pred = min(pred, self.last_sample)  # drops count at once, rises are smoothed
        if pred is not None:
            self.belief_mbps = pred
            delta = pred / self.ref_mbps - 1.0
            if delta > self.high or delta < self.low:
                new = self._move(ctx, pred, delta)
                self.switches += int(new != self.cut)
                self.cut, self.ref_mbps = new, pred
        if self.overhead_s:
            self.overhead_s[-1] += time.perf_counter() - t0
        else:
            self.overhead_s.append(time.perf_counter() - t0)
        return self.cut

    def deadline_ms(self, ctx: PlanContext, cut: int) -> float | None:
        """Abort deadline (ms after the edge part) of the remote part of ``cut``; None: wait."""
        if not self.fallback_ok:
            return None
        assert self.fallback is not None
        return self.fallback.deadline_ms(
            remote_ms(ctx.costs, cut, self.link.with_bandwidth(self.belief_mbps))
        )

    def _move(self, ctx: PlanContext, pred_mbps: float, delta: float) -> int:
        cuts = self.pool.cuts
        if self.rule == "paper":
            act = ctx.costs.transfers.bytes_up[cuts] + ctx.costs.transfers.bytes_down[cuts]
            return int(cuts[np.argmax(act)] if delta > 0 else cuts[np.argmin(act)])
        lat_all = ctx.costs.latency_ms(self.link.with_bandwidth(pred_mbps))
        lat = lat_all[cuts]
        best = int(cuts[np.argmin(lat)])
        # Switch only for a clear gain: a marginal one is not worth the risk of a wrong move.
        if lat_all[best] > (1 - self.min_gain) * lat_all[self.cut]:
            return self.cut
        return best
