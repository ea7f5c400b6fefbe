"""Adapter from ``VLAPolicy`` to the evaluation loop's actor protocol (``reset(env)``, ``act(obs, info)``)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.errors import AgentsError, CheckpointError
from agents.policy import load_policy
from core.errors import not_allowed

log = logging.getLogger(__name__)


REPO_ROOT = Path(__file__).resolve().parents[1]


def resolve_checkpoint(path: str | Path) -> Path:
    """``path`` as given if it exists, else relative to the repository root.

    The committed checkpoints (``checkpoints/<run>``) are named relative to the repository
    so the main job finds them when started from any directory.
    """
    given = Path(path).expanduser()
    if given.exists() or given.is_absolute():
        return given
    in_repo = REPO_ROOT / given
    return in_repo if in_repo.exists() else given


class PolicyActor:
    """Loads a trained checkpoint and acts with ``select_action`` (chunk replay).

    ``last_latency_ms`` holds ``infer_ms`` (wall ms of the forward) on the steps where a
    new chunk was predicted, empty otherwise.
    """

    def __init__(
        self,
        checkpoint: str | None,
        shape: str | None = None,
        n_action_steps: int | None = None,
        noise_seed: int = 0,
        noise_scale: float = 1.0,
        device: str = "cpu",
        num_threads: int | None = 1,
        spread_samples: int = 0,
        features: bool = False,
    ) -> None:
        if not checkpoint:
            raise CheckpointError(
                not_allowed(
                    "policy.checkpoint",
                    None,
                    "a directory written by `python -m experiments.train` "
                    "(e.g. outputs/train/<run>/checkpoints/step_0002000)",
                )
            )
        noise_scale = float(noise_scale)
        if not (math.isfinite(noise_scale) and noise_scale >= 0):
            raise AgentsError(not_allowed("policy.noise_scale", noise_scale, "a finite float >= 0"))
        if noise_scale == 0 and spread_samples >= 2:
            raise AgentsError(
                "policy.noise_scale=0 with policy.spread_samples="
                f"{spread_samples} is not allowed: every sample would be the same chunk "
                "(spread 0); allowed: noise_scale > 0, or spread_samples < 2"
            )
        if num_threads is not None:
            # Process-wide on purpose: with 2+ intra-op threads on a loaded 2-core box one
            # tiny forward took 300-2000 ms instead of ~20 ms (OpenMP oversubscription).
            torch.set_num_threads(int(num_threads))
        self.policy = load_policy(resolve_checkpoint(checkpoint), shape_name=shape, device=device)
        if n_action_steps is not None:
            self.policy.config.n_action_steps = int(n_action_steps)
        self.policy.config.noise_seed = int(noise_seed)
        self.policy.config.noise_scale = noise_scale
        self.policy.config.spread_samples = int(spread_samples)
        self.policy.config.features = bool(features)
        self.last_latency_ms: dict[str, float] = {}
        self._size_checked = False

    def _check_image_size(self, obs: dict[str, Any]) -> None:
        """Warn once when the camera renders at another size than the model was trained on.

        Images are resized to the model's input, but a frame rendered at 128 px and resized
        is not the frame rendered at 64 px the demonstrations hold (antialiasing differs).
        """
        self._size_checked = True
        want = self.policy.shape.vision[0].image_size
        for key in self.policy.config.camera_keys:
            img = obs.get(key)
            if img is not None and tuple(np.shape(img)[:2]) != (want, want):
                log.warning(
                    "camera %s renders %s px but %s was trained on %d px frames; set "
                    "env.image_size=%d to evaluate on the training distribution",
                    key,
                    "x".join(map(str, np.shape(img)[:2])),
                    self.policy.shape.name,
                    want,
                    want,
                )
                return

    def reset(self, env: Any) -> None:
        language = getattr(getattr(env, "unwrapped", env), "language", None)
        self.policy.reset(language=language)

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        self.last_latency_ms = {}
        if "language" not in obs and info.get("language") is not None:
            obs = {**obs, "language": info["language"]}
        if not self._size_checked:
            self._check_image_size(obs)
        if not self.policy._queue:
            chunk, meta = self.policy.predict_action_chunk(obs)
            n = self.policy.config.n_action_steps or len(chunk)
            self.policy._queue.extend(chunk[:n])
            self.last_latency_ms = {"infer_ms": float(meta["infer_ms"])}
        return self.policy._queue.popleft()
