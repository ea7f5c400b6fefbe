"""Build ecc objects from the Hydra groups ``hardware``, ``network`` and ``partition``.

Intended wiring in ``conf/config.yaml`` (owned by the lead)::

    defaults:
      - hardware@hardware.edge: orin_agx_64gb
      - hardware@hardware.cloud: a100_80gb
      - network: wifi
      - partition: roboecc

then ``context_from_config(arch, cfg.hardware.edge, cfg.hardware.cloud, cfg.partition)``,
``planner_from_config(cfg.partition)`` and ``network_from_config(cfg.network)``.
"""

from __future__ import annotations

from typing import Any

from ecc.cost import Precision
from ecc.hardware import HardwareProfile, load_profile, profile_from_config
from ecc.network.config import Network
from ecc.planners.base import PlanContext, Planner
from ecc.trace import build_trace

CONTEXT_KEYS = (
    "direction",
    "charge_io",
    "max_cloud_load",
    "edge_mem_budget_bytes",
    "cloud_mem_budget_bytes",
)


def _plain(cfg: Any) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(cfg, DictConfig | ListConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def hardware_from_config(cfg: Any) -> HardwareProfile:
    """A profile from a ``hardware`` node, a profile name or a YAML path."""
    if isinstance(cfg, str | HardwareProfile):
        return load_profile(cfg)
    return profile_from_config(cfg)


def planner_from_config(partition_cfg: Any) -> Planner:
    """Instantiate ``partition.planner``."""
    from hydra.utils import instantiate

    return instantiate(partition_cfg["planner"], _convert_="all")


def network_from_config(network_cfg: Any) -> Network:
    """Instantiate a ``network`` node (link + optional bandwidth trace)."""
    from hydra.utils import instantiate

    return instantiate(network_cfg, _convert_="all")


def context_from_config(
    arch: str, edge_cfg: Any, cloud_cfg: Any, partition_cfg: Any, precision: Precision = "bf16"
) -> PlanContext:
    """Planning context for architecture ``arch`` from the three config nodes."""
    p = _plain(partition_cfg)
    trace = build_trace(arch, granularity=p.get("granularity", "sublayer"))
    kwargs = {k: p[k] for k in CONTEXT_KEYS if k in p}
    return PlanContext(
        trace, hardware_from_config(edge_cfg), hardware_from_config(cloud_cfg), precision, **kwargs
    )
