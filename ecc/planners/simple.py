"""Baselines: edge-only, cloud-only and a fixed cut (index or unit / stage name)."""

from __future__ import annotations

from ecc.cost import Partition
from ecc.errors import InvalidValueError
from ecc.network.link import LinkState
from ecc.planners.base import Plan, PlanContext, Planner


class EdgeOnlyPlanner(Planner):
    """Everything on the edge device."""

    name = "edge_only"
    respects_budgets = False  # a fixed placement: the budgets are the caller's to check

    def plan(self, ctx: PlanContext, link: LinkState) -> Plan:
        cut = ctx.trace.n_units if ctx.direction == "edge_prefix" else 0
        return Plan(ctx.partition(cut), float(ctx.costs.latency_ms(link)[cut]), self.name)


class CloudOnlyPlanner(Planner):
    """Everything on the cloud server (inputs up, actions down)."""

    name = "cloud_only"
    respects_budgets = False  # a fixed placement: the budgets are the caller's to check

    def plan(self, ctx: PlanContext, link: LinkState) -> Plan:
        cut = 0 if ctx.direction == "edge_prefix" else ctx.trace.n_units
        return Plan(ctx.partition(cut), float(ctx.costs.latency_ms(link)[cut]), self.name)


class FixedPlanner(Planner):
    """A fixed cut: an index ``0..n_units`` or the name of the unit / stage it follows."""

    name = "fixed"
    respects_budgets = False  # a fixed placement: the budgets are the caller's to check

    def __init__(self, cut: int | str = 0) -> None:
        self.cut = cut

    def resolve(self, ctx: PlanContext) -> int:
        if isinstance(self.cut, str) and not self.cut.lstrip("-").isdigit():
            return ctx.trace.cut_index(self.cut)
        # No Python-style index from the end: cut=-5 is a typo far more often than a wish.
        c = int(self.cut)
        if not 0 <= c <= ctx.trace.n_units:
            raise InvalidValueError(
                "partition.cut", self.cut, f"0..{ctx.trace.n_units} or a unit name"
            )
        return c

    def plan(self, ctx: PlanContext, link: LinkState) -> Plan:
        c = self.resolve(ctx)
        return Plan(ctx.partition(c), float(ctx.costs.latency_ms(link)[c]), self.name)


__all__ = ["CloudOnlyPlanner", "EdgeOnlyPlanner", "FixedPlanner", "Partition"]
