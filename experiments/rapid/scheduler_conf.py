"""Schedulers from ``scheduler`` group options (via the main job's Hydra config) or YAML files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from experiments.apps import compose_main
from experiments.rapid.errors import RapidExperimentError

DEFAULT_RAPID = "rapid_calibrated"  # the calibrated trigger (experiments.rapid.calibrate_rapid)


def scheduler_config(name_or_path: str | Path) -> DictConfig:
    """A ``scheduler`` group option's config (``rapid``), or a scheduler YAML file's."""
    p = Path(str(name_or_path))
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise RapidExperimentError("scheduler", str(p), "an existing YAML or a group option")
        return OmegaConf.load(p)  # type: ignore[return-value]
    return compose_main([f"scheduler={name_or_path}"]).scheduler


def scheduler_from_yaml(name_or_path: str | Path, **overrides: Any) -> Any:
    """Instantiate the scheduler an option or YAML names (``_target_`` + fields), with overrides."""
    cfg = OmegaConf.to_container(scheduler_config(name_or_path), resolve=True)
    cfg.update(overrides)  # type: ignore[union-attr]
    return instantiate(cfg, _convert_="all")


def describe(name_or_path: str | Path) -> dict[str, Any]:
    """The resolved fields of a scheduler option or YAML (for result files)."""
    fields = OmegaConf.to_container(scheduler_config(name_or_path), resolve=True)
    return {"path": str(name_or_path), **fields}  # type: ignore[dict-item]
