"""Oracle: exhaustive search with the true bandwidth (an upper bound on any planner).

``exhaustive_optimum`` prices every cut with the reference stage-by-stage walk
(``ecc.cost.latency_breakdown``), independent of the prefix sums the other planners use,
so it also checks them. The adaptive oracle re-plans every generation over all cuts with
the bandwidth that generation will actually see.
"""

from __future__ import annotations

import numpy as np

from ecc.cost import latency_breakdown, stage_times_ms
from ecc.network.link import LinkState
from ecc.planners.base import Plan, PlanContext, Planner, best_cut


def exhaustive_latencies_ms(ctx: PlanContext, link: LinkState) -> np.ndarray:
    """Latency of every cut by the reference walk (slow; for checking and small traces)."""
    te = stage_times_ms(ctx.trace, ctx.edge, ctx.precision)
    tc = stage_times_ms(ctx.trace, ctx.cloud, ctx.precision)
    return np.array([
        latency_breakdown(ctx.trace, ctx.partition(k), ctx.edge, ctx.cloud, link, ctx.precision,
                          charge_io=ctx.charge_io, edge_times_ms=te, cloud_times_ms=tc).total_ms
        for k in range(ctx.trace.n_cuts)
    ])  # fmt: skip


def exhaustive_optimum(ctx: PlanContext, link: LinkState) -> tuple[int, float]:
    """(cut, latency ms) of the exhaustive optimum under the budgets."""
    lat = exhaustive_latencies_ms(ctx, link)
    k = best_cut(lat, ctx.feasible(), ctx.costs.cloud_flops_frac)
    return k, float(lat[k])


class OraclePlanner(Planner):
    """Best cut for the true link of each generation (exhaustive; knows the future)."""

    name = "oracle"

    def plan(self, ctx: PlanContext, link: LinkState) -> Plan:
        k, ms = exhaustive_optimum(ctx, link)
        return Plan(ctx.partition(k), ms, self.name)

    def reset(self, ctx: PlanContext, link: LinkState) -> int:
        self.feas = ctx.feasible()
        self._load = ctx.costs.cloud_flops_frac
        return self.decide(ctx, 0.0, link)

    def decide(self, ctx: PlanContext, t_s: float, true_link: LinkState | None = None) -> int:
        if true_link is None:
            raise ValueError("the oracle needs the true link of each generation")
        return self.choose(ctx.costs.latency_ms(true_link), ctx)

    def choose(self, latency_ms: np.ndarray, ctx: PlanContext | None = None) -> int:
        """Best feasible cut given every cut's true latency (ms), e.g. priced over the schedule."""
        load = self._load if ctx is None else ctx.costs.cloud_flops_frac
        return best_cut(np.asarray(latency_ms, dtype=float), self.feas, load)
