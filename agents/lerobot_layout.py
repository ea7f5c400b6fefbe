"""LeRobot's policy-checkpoint layout: names, features, normaliser files (no policy imports).

Read by ``agents.policy.load_policy`` (a directory in this layout loads like ours) and written
by ``agents.lerobot_policy``; the layout itself is described there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from agents.errors import CheckpointError
from agents.normalize import NormStats
from agents.shapes import VLAShape
from core.errors import not_allowed

TYPE_PREFIX = "vecc_"
IMAGE_PREFIX = "observation.images."
STATE = "observation.state"
ACTION = "action"
NORM_MAP: dict[str, str] = {"VISUAL": "IDENTITY", "STATE": "MEAN_STD", "ACTION": "QUANTILES"}
PRE_STATE = "policy_preprocessor_step_3_normalizer_processor.safetensors"
POST_STATE = "policy_postprocessor_step_0_unnormalizer_processor.safetensors"
# float32 rounding of the normaliser files against stats.json (relative)
STATS_RTOL = 1e-6


def is_lerobot_checkpoint(path: str | Path) -> bool:
    """True when ``path`` holds a ``config.json`` with LeRobot's ``type`` and
    ``input_features`` instead of our format tag (``agents.policy.CHECKPOINT_FORMAT``)."""
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return False
    try:
        config = json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False  # read_checkpoint_config reports the corrupt file
    return isinstance(config, dict) and "input_features" in config and "format" not in config


def features(shape: VLAShape, camera_keys: tuple[str, ...]) -> tuple[dict, dict]:
    """(input_features, output_features) as LeRobot's config.json spells them."""
    size = shape.vision[0].image_size
    inputs: dict[str, Any] = {
        f"{IMAGE_PREFIX}{k}": {"type": "VISUAL", "shape": [3, size, size]} for k in camera_keys
    }
    if shape.proprio_dim:
        inputs[STATE] = {"type": "STATE", "shape": [shape.proprio_dim]}
    outputs = {ACTION: {"type": "ACTION", "shape": [shape.head.action_dim]}}
    return inputs, outputs


def stat_tensors(stats: NormStats, proprio: bool) -> tuple[dict[str, torch.Tensor], dict]:
    """(preprocessor state, postprocessor state): LeRobot's ``<feature>.<stat>`` float32 keys."""

    def t(v: list[float]) -> torch.Tensor:
        return torch.tensor(v, dtype=torch.float32)

    action = {f"{ACTION}.q01": t(stats.action_q01), f"{ACTION}.q99": t(stats.action_q99)}
    if stats.action_mean is not None and stats.action_std is not None:
        action |= {f"{ACTION}.mean": t(stats.action_mean), f"{ACTION}.std": t(stats.action_std)}
    pre = dict(action)
    if proprio:
        pre |= {f"{STATE}.mean": t(stats.proprio_mean), f"{STATE}.std": t(stats.proprio_std)}
    return pre, action


def read_lerobot_config(root: Path) -> tuple[dict, dict]:
    """(config.json, its ``vecc`` block), after checking ``type`` names one of our families."""
    try:
        config = json.loads((root / "config.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"config {root / 'config.json'} cannot be read: {e}") from e
    kind = config.get("type")
    if not isinstance(kind, str) or not kind.startswith(TYPE_PREFIX):
        raise CheckpointError(
            not_allowed(
                "config type",
                kind,
                f"'{TYPE_PREFIX}<family>' (a LeRobot policy of another type is not ours to load)",
            )
        )
    vecc = config.get("vecc")
    if not isinstance(vecc, dict):
        raise CheckpointError(f"config.json in {root} lacks the 'vecc' block")
    if kind != f"{TYPE_PREFIX}{vecc.get('family')}":
        raise CheckpointError(
            f"config type={kind!r} disagrees with vecc.family={vecc.get('family')!r} in {root}"
        )
    return config, vecc


def check_normaliser(root: Path, stats: NormStats, proprio: bool) -> None:
    """The float32 normaliser files must say what stats.json says (catches a hand-edited one)."""
    want_pre, want_post = stat_tensors(stats, proprio)
    for name, want in ((PRE_STATE, want_pre), (POST_STATE, want_post)):
        path = root / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint lacks the normaliser state {name} in {root}")
        try:
            got = load_file(str(path))
        except Exception as e:  # safetensors raises its own error type for bad headers
            raise CheckpointError(f"{path} cannot be read as safetensors: {e}") from e
        for key, value in want.items():
            if key not in got:
                raise CheckpointError(f"{path} lacks {key!r}; present: {sorted(got)}")
            if got[key].shape != value.shape or not np.allclose(
                got[key].numpy(), value.numpy(), rtol=STATS_RTOL, atol=1e-7
            ):
                raise CheckpointError(f"{path}: {key} disagrees with stats.json in {root}")


def check_features(config: dict, root: Path, shape: VLAShape, camera_keys: tuple[str, ...]) -> None:
    """config.json's features must be what the shape and the policy's camera keys give."""
    for name, want in zip(("input_features", "output_features"), features(shape, camera_keys)):
        if config.get(name) != want:
            raise CheckpointError(
                f"config {name} {config.get(name)} in {root} disagree with shape "
                f"{shape.name!r} and the policy's keys; allowed: {want}"
            )
