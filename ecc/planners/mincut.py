"""DADS-style min s-t cut over the unit DAG (INFOCOM'19), for stages that run in parallel.

Nodes are units (two vision towers are two independent branches). With ``s`` = edge and
``t`` = cloud: arc ``s -> v`` costs v's cloud compute (paid when v is on the cloud),
``v -> t`` its edge compute, and every tensor version written at ``u`` and read at ``v``
adds an arc ``u -> v`` with its upload cost and ``v -> u`` with its download cost. Inputs
are arcs from ``s``; actions the robot needs back add a download arc from ``s`` to their
writer. The minimum cut is the placement; it is then priced exactly by the reference
walk (the graph counts one message per tensor, the walk one per device change).

Limits: latency is serial (branches on different devices are not credited for running at
the same time), and the graph has no memory terms (a placement over budget is rejected).
"""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np

from ecc.cost import Partition, latency_breakdown, stage_times_ms, unit_weight_bytes
from ecc.errors import InfeasiblePlanError
from ecc.network.link import LinkState
from ecc.planners.base import Plan, PlanContext, Planner


def max_flow_min_cut(n: int, arcs: dict[tuple[int, int], float], s: int, t: int) -> np.ndarray:
    """Edmonds-Karp; returns a bool mask of nodes on the source side of a minimum cut."""
    cap: dict[int, dict[int, float]] = defaultdict(dict)
    for (u, v), c in arcs.items():
        if c <= 0 or u == v:
            continue
        cap[u][v] = cap[u].get(v, 0.0) + c
        cap[v].setdefault(u, 0.0)
    while True:
        parent = {s: s}
        q = deque([s])
        while q and t not in parent:
            u = q.popleft()
            for v, c in cap[u].items():
                if c > 1e-12 and v not in parent:
                    parent[v] = u
                    q.append(v)
        if t not in parent:
            break
        path, v = [], t
        while v != s:
            path.append((parent[v], v))
            v = parent[v]
        f = min(cap[u][v] for u, v in path)
        for u, v in path:
            cap[u][v] -= f
            cap[v][u] += f
    side = np.zeros(n, dtype=bool)
    for u in parent:
        side[u] = True
    return side


class MinCutPlanner(Planner):
    """Latency-optimal DAG partition by min s-t cut (not restricted to a single cut)."""

    name = "mincut"

    def plan(self, ctx: PlanContext, link: LinkState) -> Plan:
        tr = ctx.trace
        n = tr.n_units
        s, t = n, n + 1
        te = stage_times_ms(tr, ctx.edge, ctx.precision)
        tc = stage_times_ms(tr, ctx.cloud, ctx.precision)
        ue = np.bincount(tr.arrays["unit"], weights=te, minlength=n)
        uc = np.bincount(tr.arrays["unit"], weights=tc, minlength=n)
        arcs: dict[tuple[int, int], float] = defaultdict(float)
        for v in range(n):
            arcs[(s, v)] += uc[v]
            arcs[(v, t)] += ue[v]
        au, bu = link.coefficients("up")
        ad, bd = link.coefficients("down")
        writer: dict[str, int] = {}
        if ctx.charge_io:
            writer.update({k: s for k in tr.inputs})
        size: dict[str, int] = dict(tr.inputs)
        seen: set[tuple[str, int, int]] = set()
        for st in tr.stages:
            for name in st.reads:
                w = writer.get(name)
                if w is None or w == st.unit or (name, w, st.unit) in seen:
                    continue
                seen.add((name, w, st.unit))
                arcs[(w, st.unit)] += au + bu * size[name]
                if w != s:
                    arcs[(st.unit, w)] += ad + bd * size[name]
            for name, nb in st.writes:
                writer[name], size[name] = st.unit, nb
                seen = {x for x in seen if x[0] != name}
        if ctx.charge_io:
            for name in tr.outputs:
                arcs[(s, writer[name])] += ad + bd * size[name]
        edge_side = max_flow_min_cut(n + 2, dict(arcs), s, t)[:n]
        part = Partition(tuple(bool(x) for x in ~edge_side), None, ctx.direction, "mincut")
        self._check_budgets(ctx, part)
        bdn = latency_breakdown(tr, part, ctx.edge, ctx.cloud, link, ctx.precision, charge_io=ctx.charge_io,
                                edge_times_ms=te, cloud_times_ms=tc)  # fmt: skip
        return Plan(part, bdn.total_ms, self.name, {"cloud_units": int((~edge_side).sum())})

    @staticmethod
    def _check_budgets(ctx: PlanContext, part: Partition) -> None:
        """The cut graph has no memory terms: reject a placement that breaks a budget."""
        oc = np.asarray(part.on_cloud)
        e = float(unit_weight_bytes(ctx.trace, ctx.edge, ctx.precision)[~oc].sum())
        c = float(unit_weight_bytes(ctx.trace, ctx.cloud, ctx.precision)[oc].sum())
        eb = (
            ctx.edge.mem_capacity_bytes
            if ctx.edge_mem_budget_bytes is None
            else ctx.edge_mem_budget_bytes
        )
        cb = (
            ctx.cloud.mem_capacity_bytes
            if ctx.cloud_mem_budget_bytes is None
            else ctx.cloud_mem_budget_bytes
        )
        if e > eb or c > cb:
            raise InfeasiblePlanError(
                f"mincut placement needs edge {e / 1e9:.2f} GB (budget {eb / 1e9:.2f}) and cloud "
                f"{c / 1e9:.2f} GB (budget {cb / 1e9:.2f}); the min-cut planner has no memory terms"
            )

    def reset(self, ctx: PlanContext, link: LinkState) -> int:
        raise NotImplementedError(
            "mincut plans are not single cuts; use plan() with the reference walk"
        )
