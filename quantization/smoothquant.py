"""SmoothQuant (Xiao et al., 2023): migrate activation outliers into the weights.

For each quantized Linear with input channels ``j``:
``s_j = max|X_j|**alpha / max|W_:,j|**(1 - alpha)``; the layer computes
``(X / s) (W * s)^T``. We keep ``1/s`` as an explicit input scale on the
``QuantLinear`` instead of folding it into the preceding norm: identical arithmetic,
works for any model (the preceding op may not be a norm), one extra elementwise
multiply per call.
"""

from __future__ import annotations

import torch
from torch import nn

from quantization.calib_batches import CalibrationBatches, iter_batches
from quantization.config import SmoothQuantConfig
from quantization.errors import CalibrationError

_MIN = 1e-5


@torch.no_grad()
def activation_channel_max(
    model: nn.Module, targets: dict[str, nn.Linear], calibration: CalibrationBatches, limit: int
) -> dict[str, torch.Tensor]:
    """Per-input-channel max |x| seen by each target layer over calibration batches."""
    maxima: dict[str, torch.Tensor] = {}
    handles = []

    def hook(name: str):
        def fn(_mod: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).abs().amax(0).float()
            maxima[name] = x if name not in maxima else torch.maximum(maxima[name], x)

        return fn

    for name, lin in targets.items():
        handles.append(lin.register_forward_pre_hook(hook(name)))
    try:
        for batch in iter_batches(calibration, limit):
            calibration.run(model, batch)
    finally:
        for h in handles:
            h.remove()
    missing = sorted(set(targets) - set(maxima))
    if missing:
        raise CalibrationError(
            f"calibration never reached layers {missing[:5]} (of {len(missing)})"
        )
    return maxima


def migration_scales(act_max: torch.Tensor, weight: torch.Tensor, alpha: float) -> torch.Tensor:
    """``s_j = max|X_j|^alpha / max|W_:,j|^(1-alpha)`` for a ``[out, in]`` weight."""
    w_max = weight.detach().abs().amax(0).float().clamp_min(_MIN)
    s = act_max.clamp_min(_MIN).pow(alpha) / w_max.pow(1 - alpha)
    return s.clamp_min(_MIN)


def smoothing_scales(
    model: nn.Module,
    targets: dict[str, nn.Linear],
    calibration: CalibrationBatches,
    cfg: SmoothQuantConfig,
) -> dict[str, torch.Tensor]:
    """Migration scales of every target layer from calibration activations."""
    maxima = activation_channel_max(model, targets, calibration, cfg.calib_batches)
    return {n: migration_scales(maxima[n], lin.weight, cfg.alpha) for n, lin in targets.items()}
