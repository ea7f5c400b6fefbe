"""Partition planners (Hydra group ``partition``): edge_only, cloud_only, fixed,
neurosurgeon, mincut (DADS), roboecc, oracle. A new planner: docs/extending.md."""

from typing import Any

from ecc.errors import UnknownNameError
from ecc.planners.base import Plan, PlanContext, Planner, best_cut, make_context
from ecc.planners.mincut import MinCutPlanner
from ecc.planners.neurosurgeon import NeurosurgeonPlanner
from ecc.planners.oracle import OraclePlanner, exhaustive_optimum
from ecc.planners.registry import PLANNERS
from ecc.planners.roboecc import RoboECCPlanner
from ecc.planners.simple import CloudOnlyPlanner, EdgeOnlyPlanner, FixedPlanner


def make_planner(name: str, **kwargs: Any) -> Planner:
    """Planner by registered name (the built-ins are imported above, so they are registered)."""
    if name not in PLANNERS:
        raise UnknownNameError("partition", name, sorted(PLANNERS))
    return PLANNERS[name](**kwargs)


__all__ = [
    "PLANNERS",
    "CloudOnlyPlanner",
    "EdgeOnlyPlanner",
    "FixedPlanner",
    "MinCutPlanner",
    "NeurosurgeonPlanner",
    "OraclePlanner",
    "Plan",
    "PlanContext",
    "Planner",
    "RoboECCPlanner",
    "best_cut",
    "exhaustive_optimum",
    "make_context",
    "make_planner",
]  # fmt: skip
