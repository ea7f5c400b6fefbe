"""Partition planners (Hydra group ``partition``): edge_only, cloud_only, fixed,
neurosurgeon, mincut (DADS), roboecc, oracle."""

from ecc.planners.base import Plan, PlanContext, Planner, best_cut, make_context, make_planner
from ecc.planners.mincut import MinCutPlanner
from ecc.planners.neurosurgeon import NeurosurgeonPlanner
from ecc.planners.oracle import OraclePlanner, exhaustive_optimum
from ecc.planners.roboecc import RoboECCPlanner
from ecc.planners.simple import CloudOnlyPlanner, EdgeOnlyPlanner, FixedPlanner

__all__ = [
    "CloudOnlyPlanner", "EdgeOnlyPlanner", "FixedPlanner", "MinCutPlanner", "NeurosurgeonPlanner",
    "OraclePlanner", "Plan", "PlanContext", "Planner", "RoboECCPlanner", "best_cut", "exhaustive_optimum",
    "make_context", "make_planner",
]  # fmt: skip
