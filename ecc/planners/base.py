"""Planner interface, the planning context, feasibility and the registry.

A planner turns (trace, hardware pair, precision, link knowledge) into a
:class:`~ecc.cost.Partition`. Defining a subclass with a ``name`` registers it
(``ecc.planners.registry.PLANNERS``, also ``Planner.registry``); a ``conf/partition/*.yaml``
selects it by ``planner._target_``; ``check_planner`` (``ecc.planners.checker``) checks it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from core.registry import Registry
from ecc.cost import DIRECTIONS, Partition, Precision
from ecc.cuts import CutCosts, cut_costs
from ecc.errors import InfeasiblePlanError, InvalidValueError, check_choice
from ecc.hardware import HardwareProfile, load_profile
from ecc.network.link import LinkState
from ecc.planners.registry import PLANNERS
from ecc.trace import ExecutionTrace, build_trace


@dataclass
class PlanContext:
    """What is being split, onto what, under which budgets.

    Budgets: ``edge_mem_budget_bytes`` / ``cloud_mem_budget_bytes`` (None: the device's
    usable capacity) bound resident weights + KV cache; ``max_cloud_load`` bounds the
    share of the generation's FLOPs run on the cloud (RoboECC's cloud-load budget, 0..1).
    ``charge_io=False`` reproduces RoboECC's convention of a free image upload and action
    download.
    """

    trace: ExecutionTrace
    edge: HardwareProfile
    cloud: HardwareProfile
    precision: Precision = "bf16"
    direction: str = "edge_prefix"
    charge_io: bool = True
    edge_mem_budget_bytes: float | None = None
    cloud_mem_budget_bytes: float | None = None
    max_cloud_load: float = 1.0
    _costs: CutCosts | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_choice("direction", self.direction, DIRECTIONS)
        if not 0 <= self.max_cloud_load <= 1:
            raise InvalidValueError(
                "max_cloud_load", self.max_cloud_load, "[0, 1] (share of FLOPs)"
            )

    @property
    def costs(self) -> CutCosts:
        """Per-cut compute, memory and traffic (computed once)."""
        if self._costs is None:
            self._costs = cut_costs(self.trace, self.edge, self.cloud, self.precision, self.direction,
                                    self.charge_io)  # fmt: skip
        return self._costs

    def feasible(self) -> np.ndarray:
        """Boolean mask over cuts meeting the memory and cloud-load budgets."""
        c = self.costs
        eb = (
            self.edge.mem_capacity_bytes
            if self.edge_mem_budget_bytes is None
            else self.edge_mem_budget_bytes
        )
        cb = (
            self.cloud.mem_capacity_bytes
            if self.cloud_mem_budget_bytes is None
            else self.cloud_mem_budget_bytes
        )
        return (
            (c.edge_mem_bytes <= eb)
            & (c.cloud_mem_bytes <= cb)
            & (c.cloud_flops_frac <= self.max_cloud_load + 1e-12)
        )

    def partition(self, cut: int) -> Partition:
        return Partition.single_cut(self.trace, int(cut), self.direction)


def make_context(
    arch: str,
    edge: str | HardwareProfile,
    cloud: str | HardwareProfile,
    *,
    precision: Precision = "bf16",
    direction: str = "edge_prefix",
    charge_io: bool = True,
    granularity: str = "sublayer",
    **budgets: Any,
) -> PlanContext:
    """Context from names (architecture, hardware profiles)."""
    return PlanContext(build_trace(arch, granularity=granularity), load_profile(edge), load_profile(cloud),
                       precision, direction, charge_io, **budgets)  # fmt: skip


@dataclass
class Plan:
    """A planner's decision and what it expects (``predicted_ms`` under its link belief)."""

    partition: Partition
    predicted_ms: float
    planner: str
    info: dict = field(default_factory=dict)

    @property
    def cut(self) -> int | None:
        return self.partition.cut


def best_cut(latency_ms: np.ndarray, feasible: np.ndarray, cloud_load: np.ndarray) -> int:
    """Feasible cut of least latency; ties broken by lower cloud load, then by lower index."""
    if not feasible.any():
        raise InfeasiblePlanError("no cut fits the edge/cloud memory and cloud-load budgets")
    lat = np.where(feasible, latency_ms, np.inf)
    m = lat.min()
    tied = np.flatnonzero(lat <= m * (1 + 1e-9) + 1e-9)  # rounding-level ties (sum order differs)
    return int(tied[np.argmin(cloud_load[tied])])


class Planner(ABC):
    """Chooses a partition. Subclasses set ``name`` (registered on definition)."""

    name: ClassVar[str] = ""
    registry: ClassVar[Registry[type]] = PLANNERS
    # False for fixed placements (edge_only, cloud_only, fixed): check_planner then does not
    # require the memory and cloud-load budgets to be met.
    respects_budgets: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not getattr(cls, "__abstractmethods__", None):
            if not cls.name:
                raise TypeError(f"planner {cls.__name__} must set a class attribute `name`")
            if cls.name in PLANNERS and PLANNERS[cls.name] is not cls:
                raise TypeError(f"planner name {cls.name!r} is already registered")
            PLANNERS.add(cls.name, cls)

    @abstractmethod
    def plan(self, ctx: PlanContext, link: LinkState) -> Plan:
        """Partition for ``ctx`` given the planner's belief ``link`` about the network."""

    # Adaptive protocol (static planners keep their plan): called once per action generation.
    def reset(self, ctx: PlanContext, link: LinkState) -> int:
        """Start of a run; returns the first cut."""
        self._plan = self.plan(ctx, link)
        return int(self._plan.partition.cut if self._plan.partition.cut is not None else 0)

    def decide(self, ctx: PlanContext, t_s: float, true_link: LinkState | None = None) -> int:
        """Cut for the next action generation (only the oracle reads ``true_link``)."""
        return int(self._plan.partition.cut)

    def observe(self, sample_mbps: float | None) -> None:  # noqa: B027 (static planners ignore it)
        """Bandwidth sample (Mbit/s) from the last generation's transfers, if any."""

    def deadline_ms(self, ctx: PlanContext, cut: int) -> float | None:
        """When to give up on the remote part of ``cut`` and finish on the edge (ms); None: never."""
        return None
