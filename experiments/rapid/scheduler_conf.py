"""Build schedulers from Hydra ``scheduler`` group files (the calibrated RAPID trigger by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.provenance import REPO_ROOT
from experiments.rapid.errors import RapidExperimentError

CONF_DIR = REPO_ROOT / "conf" / "scheduler"


def default_rapid_conf() -> Path:
    """The calibrated trigger (``rapid_calibrated.yaml``) when it exists, else the framework default."""
    calibrated = CONF_DIR / "rapid_calibrated.yaml"
    return calibrated if calibrated.is_file() else CONF_DIR / "rapid.yaml"


def scheduler_from_yaml(path: str | Path, **overrides: Any) -> Any:
    """Instantiate the scheduler a YAML file names (``_target_`` + fields), with field overrides."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    p = Path(path)
    if not p.is_file():
        p2 = CONF_DIR / f"{path}.yaml"  # a group option name, e.g. "rapid" or "entropy"
        if not p2.is_file():
            options = sorted(f.stem for f in CONF_DIR.glob("*.yaml"))
            raise RapidExperimentError("scheduler", str(path), f"a YAML path or one of {options}")
        p = p2
    cfg = OmegaConf.load(p)
    for k, v in overrides.items():
        cfg[k] = v
    return instantiate(cfg, _convert_="all")


def describe(path: str | Path) -> dict[str, Any]:
    """The resolved fields of a scheduler YAML (for result files)."""
    from omegaconf import OmegaConf

    p = Path(path)
    if not p.is_file():
        p = CONF_DIR / f"{path}.yaml"
    return {"path": str(p), **OmegaConf.to_container(OmegaConf.load(p), resolve=True)}  # type: ignore[dict-item]
