"""Calibration batches from demonstration frames (SmoothQuant maxima, QVLA sensitivity).

Frames are built exactly as the trained policy sees them: images resized by
``agents.preprocess``, the demo's instruction tokenized, proprio normalised with the
policy's statistics, and (flow/diffusion families) seeded noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from agents.preprocess import images_to_tensor
from quantization.calib_batches import CalibrationBatches
from quantization.errors import CalibrationError


def _run_actions_or_logits(model: nn.Module, batch: dict) -> torch.Tensor:
    """Continuous actions, or token logits for argmax-decoded families (differentiable)."""
    out = model(batch)
    if "token_logits" in out:
        return out["token_logits"]
    return out["actions"]


def demo_frames(policy: Any, demos: Any, rows: np.ndarray, seed: int = 0) -> dict:
    """Model inputs (batch = ``len(rows)``) for demo rows, as the policy would build them."""
    s = policy.shape
    rows = np.asarray(rows)
    tokens = torch.tensor(
        [
            policy.tokenizer.encode(demos.languages[d], s.prompt_tokens)
            for d in demos.demo_of_row[rows]
        ]
    )
    inputs = {
        "images": images_to_tensor(demos.images[rows], s.vision[0].image_size),
        "tokens": tokens,
    }
    if s.proprio_dim:
        p = policy.stats.normalize_proprio(demos.proprio[rows])
        inputs["proprio"] = torch.from_numpy(np.asarray(p, dtype=np.float32))
    if s.noise_input:
        gen = torch.Generator().manual_seed(seed)
        inputs["noise"] = torch.randn(len(rows), s.head.chunk, s.head.action_dim, generator=gen)
    return inputs


def demo_calibration(
    policy: Any, demos: Any, n_batches: int = 16, batch_size: int = 4, seed: int = 0
) -> CalibrationBatches:
    """``n_batches`` batches of ``batch_size`` random demo frames as model inputs.

    ``policy``: an ``agents.policy.VLAPolicy`` (shape, tokenizer, stats); ``demos``: an
    ``agents.data.DemoArrays``. The run function returns token logits where the model
    emits them (OpenVLA-style), else actions.
    """
    n_rows = len(demos.actions)
    if n_rows == 0:
        raise CalibrationError("demos hold no frames; record demonstrations first")
    if n_batches < 1 or batch_size < 1:
        raise CalibrationError(f"n_batches={n_batches}, batch_size={batch_size}: both must be >= 1")
    rng = np.random.default_rng(seed)
    batches = [
        demo_frames(policy, demos, rng.integers(0, n_rows, batch_size), seed + i)
        for i in range(n_batches)
    ]
    return CalibrationBatches(batches=batches, run=_run_actions_or_logits)
