"""Train a tiny VLA policy on demonstrations: HDF5 or a LeRobotDataset (Hydra entry point).

    python -m experiments.train policy=oft_tiny suite=object steps=2000 seed=0
    python -m experiments.train policy=pi0_tiny demos=data/goal.hdf5 wandb_mode=disabled
    python -m experiments.train policy=pi0_tiny demos=data/goal_lerobot   # meta/info.json inside

``demos`` is an HDF5 file (robomimic/LIBERO layout), a LeRobotDataset v3 root (a directory with
``meta/info.json``, as ``agents.lerobot_format.write_lerobot`` writes it), or a list of them.

Re-running the same command resumes from ``<out_dir>/checkpoints/latest.json``.
Checkpoints (safetensors + config + normalisation stats + tokenizer) land in
``<out_dir>/checkpoints/step_NNNNNNN``; W&B runs offline under ``out_dir`` by default.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from agents.data import demo_files
from agents.training import TrainConfig, train
from core.provenance import file_fingerprint, provenance

log = logging.getLogger(__name__)


@dataclass
class TrainJob:
    """Command-line schema; ``policy`` comes from ``conf/policy/<name>.yaml``."""

    defaults: list[Any] = field(
        default_factory=lambda: [
            {"policy": "oft_tiny"},
            {"override hydra/help": "train"},  # conf/hydra/help/train.yaml
            "_self_",
        ]
    )
    policy: Any = MISSING
    suite: str = "object"
    # an HDF5 path or LeRobotDataset root, or a list of them: 'demos=[a.hdf5,b_lerobot]'
    demos: Any = "data/${suite}.hdf5"
    out_dir: str = "outputs/train/${policy.shape}_${suite}_seed${seed}"
    seed: int = 0
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    save_every: int = 500
    log_every: int = 10
    aug_shift_px: int = 4
    num_threads: int = 1
    max_demos: Any = None
    tokenizer_oov: str = "error"
    vocab_from_suites: bool = True
    resume: bool = True
    progress: bool = True
    wandb_mode: str = "offline"
    wandb_project: str = "vla-ecc-lab"


ConfigStore.instance().store(name="train_job", node=TrainJob)


def demos_fingerprint(path: Path) -> dict[str, Any]:
    """``file_fingerprint`` of an HDF5 file; for a LeRobotDataset root, of each of its files
    (meta/*.json, the parquet tables) so the checkpoint says which frames it saw."""
    if not path.is_dir():
        return file_fingerprint(path)
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix in (".json", ".parquet"))
    return {
        "path": str(path),
        "format": "LeRobotDataset",
        "files": [{**file_fingerprint(f), "path": str(f.relative_to(path))} for f in files],
    }


@hydra.main(config_path="../conf", config_name="train_job", version_base="1.3")
def main(cfg: Any) -> None:
    job = OmegaConf.to_container(cfg, resolve=True)
    policy = job.pop("policy")
    job.pop("suite")
    job.pop("defaults", None)
    tc = TrainConfig(shape=policy["shape"], n_action_steps=policy.get("n_action_steps"), **job)
    # Stored in every checkpoint's config.json (train_config.extra): what made the weights.
    fingerprints = [demos_fingerprint(p) for p in demo_files(tc.demos)]
    tc.extra = {
        **tc.extra,
        "provenance": provenance(),
        "demos": fingerprints[0] if isinstance(tc.demos, str) else fingerprints,
    }
    result = train(tc)
    last = result.losses[-1] if result.losses else float("nan")
    print(
        f"trained {tc.shape} for {result.steps} steps in {result.seconds:.1f} s "
        f"(final loss {last:.4f}); checkpoint: {result.checkpoint}"
    )


if __name__ == "__main__":
    main()
