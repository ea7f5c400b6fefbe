"""Observation -> model tensors, shared by the policy (one step) and the trainer (batches)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from agents.errors import ObservationError


def images_to_tensor(images: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [..., H, W, 3] -> float [..., 3, size, size] in [-1, 1] (bilinear, antialiased)."""
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8 or x.shape[-1] != 3:
        raise ObservationError(
            f"image has dtype={x.dtype} shape={tuple(x.shape)}; allowed: uint8 [..., H, W, 3]"
        )
    lead = x.shape[:-3]
    x = x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return (x * 2.0 - 1.0).reshape(*lead, 3, size, size)


def stack_cameras(obs: Mapping[str, np.ndarray], keys: Sequence[str]) -> np.ndarray:
    """[H, W, 3] per key (or [T, H, W, 3]) -> [cams, H, W, 3] (or [T, cams, H, W, 3])."""
    missing = [k for k in keys if k not in obs]
    if missing:
        raise ObservationError(f"observation lacks camera key(s) {missing}; required: {list(keys)}")
    return np.stack([np.asarray(obs[k]) for k in keys], axis=-4)


def proprio_vector(obs: Mapping[str, np.ndarray], keys: Sequence[str]) -> np.ndarray:
    """Concatenate proprio keys along the last axis (float32)."""
    missing = [k for k in keys if k not in obs]
    if missing:
        raise ObservationError(
            f"observation lacks proprio key(s) {missing}; required: {list(keys)}"
        )
    return np.concatenate([np.asarray(obs[k], dtype=np.float32) for k in keys], axis=-1)
