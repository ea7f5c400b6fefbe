"""Find the run directories of a sweep and read each back into a ``sweep_records.Run``.

A run directory is any folder holding both ``results.json`` and ``config.yaml`` (what the main job
writes); ``episodes.jsonl`` and Hydra's ``.hydra`` record (task overrides, ``hydra.runtime.choices``)
are read where present. ``experiments.aggregate`` reads its runs through these (and re-exports
them for the tables that re-read a sweep, such as ``experiments.dyq_table``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from core.errors import VeccError
from experiments.results import read_episodes
from experiments.sweep_records import Run


class AggregateError(VeccError, RuntimeError):
    """A run directory that cannot be read, or a root holding none."""


def find_run_dirs(root: str | Path) -> list[Path]:
    """Every directory at or below ``root`` holding ``results.json`` and ``config.yaml``, sorted."""
    root = Path(root)
    if not root.exists():
        raise AggregateError(f"no such directory: {root}")
    return sorted(
        p.parent for p in root.rglob("results.json") if (p.parent / "config.yaml").is_file()
    )


def flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> ``{"a.b.c": leaf}``; lists and empty dicts stay leaves."""
    out: dict[str, Any] = {}
    for k, v in node.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def _hydra_record(run_dir: Path) -> tuple[bool, list[str], dict[str, str]]:
    """(has a ``.hydra`` dir, its task overrides, ``hydra.runtime.choices``) of one run."""
    hydra_dir = run_dir / ".hydra"
    overrides_path = hydra_dir / "overrides.yaml"
    hydra_path = hydra_dir / "hydra.yaml"
    try:
        overrides = (
            [str(x) for x in OmegaConf.load(overrides_path)] if overrides_path.is_file() else []
        )
        choices: dict[str, str] = {}
        if hydra_path.is_file():
            node = OmegaConf.to_container(OmegaConf.load(hydra_path), resolve=False)
            raw = node.get("hydra", {}).get("runtime", {}).get("choices", {}) or {}
            # hydra/* are Hydra's own groups (launcher, sweeper): never the experiment
            choices = {
                str(k): str(v)
                for k, v in raw.items()
                if v is not None and not k.startswith("hydra/")
            }
    except (OSError, ValueError) as e:
        raise AggregateError(f"cannot read the Hydra record {hydra_dir}: {e}") from e
    return (
        hydra_dir.is_dir() and (overrides_path.is_file() or hydra_path.is_file()),
        overrides,
        choices,
    )


def load_run(run_dir: Path) -> Run:
    """Read one run directory (config.yaml, episodes.jsonl, results.json, Hydra's record)."""
    try:
        config = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=False)
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError) as e:
        raise AggregateError(f"cannot read run directory {run_dir}: {e}") from e
    episodes_path = run_dir / "episodes.jsonl"
    episodes = list(read_episodes(episodes_path)) if episodes_path.is_file() else []
    has_hydra, overrides, choices = _hydra_record(run_dir)
    return Run(run_dir, flatten(config), episodes, results, overrides, choices, has_hydra)
