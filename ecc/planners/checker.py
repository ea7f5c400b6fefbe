"""``check_planner``: the contract every partition planner keeps, checked the way gymnasium's
``env_checker`` checks an environment (each failed check raises naming what broke).

For each planning context (a model trace on an edge/cloud pair, under the default and under a
tight edge-memory budget) and each link: ``plan`` returns a :class:`~ecc.planners.base.Plan`
whose partition places every unit of the trace, a single cut in ``0..n_units`` matches its
placement, the predicted latency is a finite number of ms, the placement fits the memory and
cloud-load budgets (planners that declare ``respects_budgets = False`` are fixed placements and
are exempt), the same planner built twice plans the same, and the adaptive protocol
(``reset`` / ``decide`` / ``observe`` / ``deadline_ms``) returns cuts in range. A planner may
refuse a tight budget with ``InfeasiblePlanError`` (never under the devices' own memory), and a
planner whose plans are not single cuts may leave the adaptive protocol unimplemented.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from core.errors import VeccError
from ecc.cost import Partition, latency_breakdown
from ecc.errors import InfeasiblePlanError
from ecc.hardware import load_profile
from ecc.network.link import LinkState
from ecc.planners.base import Plan, PlanContext, Planner
from ecc.trace import build_trace

# Traces every planner must handle: one per family, real size and tiny.
CHECK_SHAPES = ("openvla-7b", "openvla-oft-7b", "pi0-3b", "cogact-base", "pi0-tiny", "oft-tiny")
CHECK_PAIR = ("orin_agx_64gb", "a100_80gb")
CHECK_LINKS = (LinkState(5.0, 20.0, 20.0, name="slow"), LinkState(200.0, 400.0, 2.0, name="fast"))


class PlannerContractError(VeccError, AssertionError):
    """A planner broke its contract; the message names the planner, the case and the check."""


def default_contexts(
    shapes: Sequence[str] = CHECK_SHAPES,
    granularity: str = "block",
    direction: str = "edge_prefix",
    charge_io: bool = True,
) -> list[PlanContext]:
    """Per shape: a context on ``CHECK_PAIR`` with the devices' own memory, and one whose edge
    budget admits only about half of the cuts (the planner must pick a feasible one)."""
    edge, cloud = (load_profile(n) for n in CHECK_PAIR)
    out: list[PlanContext] = []
    for name in shapes:
        trace = build_trace(name, granularity=granularity)
        ctx = PlanContext(trace, edge, cloud, direction=direction, charge_io=charge_io)
        out.append(ctx)
        mem = np.sort(ctx.costs.edge_mem_bytes)
        out.append(replace(ctx, edge_mem_budget_bytes=float(mem[len(mem) // 2]), _costs=None))
    return out


def _fail(planner: Planner, case: str, what: str) -> PlannerContractError:
    return PlannerContractError(f"planner {planner.name!r} ({case}): {what}")


def _check_plan(planner: Planner, ctx: PlanContext, link: LinkState, plan: Plan, case: str) -> None:
    n = ctx.trace.n_units
    if not isinstance(plan, Plan):
        raise _fail(planner, case, f"plan() returned {type(plan).__name__}; allowed: Plan")
    part = plan.partition
    if not isinstance(part, Partition) or len(part.on_cloud) != n:
        got = len(part.on_cloud) if isinstance(part, Partition) else type(part).__name__
        raise _fail(planner, case, f"partition places {got} units; allowed: all {n}")
    if part.cut is not None:
        if not 0 <= part.cut <= n:
            raise _fail(planner, case, f"cut={part.cut} is not allowed; allowed: 0..{n}")
        if part.on_cloud != Partition.single_cut(ctx.trace, part.cut, part.direction).on_cloud:
            raise _fail(planner, case, f"cut={part.cut} disagrees with its on_cloud placement")
    if not (isinstance(plan.predicted_ms, float | int) and math.isfinite(plan.predicted_ms)):
        raise _fail(planner, case, f"predicted_ms={plan.predicted_ms!r}; allowed: finite ms")
    if plan.predicted_ms < 0:
        raise _fail(planner, case, f"predicted_ms={plan.predicted_ms} < 0")
    if not getattr(planner, "respects_budgets", True) or not ctx.feasible().any():
        return
    lb = latency_breakdown(ctx.trace, part, ctx.edge, ctx.cloud, link, ctx.precision,
                           charge_io=ctx.charge_io)  # fmt: skip
    edge_budget = ctx.edge_mem_budget_bytes
    edge_budget = ctx.edge.mem_capacity_bytes if edge_budget is None else edge_budget
    if lb.edge_mem_bytes > edge_budget * (1 + 1e-9):
        raise _fail(planner, case, f"edge memory {lb.edge_mem_bytes:.4g} B over the budget "
                                   f"{edge_budget:.4g} B although a feasible cut exists")  # fmt: skip
    cloud_budget = ctx.cloud_mem_budget_bytes
    cloud_budget = ctx.cloud.mem_capacity_bytes if cloud_budget is None else cloud_budget
    if lb.cloud_mem_bytes > cloud_budget * (1 + 1e-9):
        raise _fail(planner, case, f"cloud memory {lb.cloud_mem_bytes:.4g} B over the budget "
                                   f"{cloud_budget:.4g} B")  # fmt: skip


def check_planner(
    make: Callable[[], Planner],
    contexts: Sequence[PlanContext] | None = None,
    links: Sequence[LinkState] = CHECK_LINKS,
) -> None:
    """Raise :class:`PlannerContractError` on the first broken check; ``make`` builds a fresh
    planner (a class, ``functools.partial`` or a ``_target_`` instantiation)."""
    contexts = default_contexts() if contexts is None else list(contexts)
    first, second = make(), make()
    if not isinstance(first, Planner):
        raise PlannerContractError(f"{make!r} built a {type(first).__name__}; allowed: a Planner")
    if not isinstance(first.name, str) or not first.name:
        raise _fail(first, "class", "name must be a non-empty str (the registry key)")
    for ctx in contexts:
        for link in links:
            budget = "" if ctx.edge_mem_budget_bytes is None else " tight edge memory"
            case = f"{ctx.trace.shape_name} {ctx.trace.granularity}{budget}, link {link.name}"
            try:
                plan = first.plan(ctx, link)
            except InfeasiblePlanError:
                if ctx.edge_mem_budget_bytes is None:  # refusing is for budgets it cannot meet
                    raise _fail(first, case, "infeasible under the devices' own memory") from None
                continue
            _check_plan(first, ctx, link, plan, case)
            if link is not links[0]:  # determinism once per context is enough
                _check_protocol(first, ctx, link, plan, case)
                continue
            again = second.plan(ctx, link)
            if again.partition.on_cloud != plan.partition.on_cloud or not math.isclose(
                again.predicted_ms, plan.predicted_ms, rel_tol=1e-9, abs_tol=1e-9
            ):
                raise _fail(first, case, "not deterministic: two instances planned differently")
            _check_protocol(first, ctx, link, plan, case)


def _check_protocol(
    planner: Planner, ctx: PlanContext, link: LinkState, plan: Plan, case: str
) -> None:
    n = ctx.trace.n_units
    try:
        cut = planner.reset(ctx, link)
    except NotImplementedError:
        if plan.partition.cut is None:  # multi-cut plans (mincut) have no per-generation cut
            return
        raise _fail(planner, case, "no reset() although its plans are single cuts") from None
    cuts = [cut]
    for t_s, sample in ((0.1, 1.0), (0.2, None), (0.3, 500.0)):
        planner.observe(sample)
        cuts.append(planner.decide(ctx, t_s, link))
    for c in cuts:
        if not isinstance(c, int | np.integer) or not 0 <= int(c) <= n:
            raise _fail(planner, case, f"reset/decide returned cut {c!r}; allowed: an int 0..{n}")
    deadline = planner.deadline_ms(ctx, int(cuts[-1]))
    if deadline is not None and not (math.isfinite(deadline) and deadline > 0):
        raise _fail(planner, case, f"deadline_ms={deadline!r}; allowed: None or finite ms > 0")
