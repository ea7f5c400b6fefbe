"""QVLA-style mixed precision: weight bits per module by action-space sensitivity.

QVLA allocates precision channel-wise by how much quantizing a channel perturbs the
*action* output rather than the layer output. Here the unit is a Linear module
(``QuantLinear`` holds one bit width): for each candidate module and bit width we
quantize that module alone and measure the mean squared action error on calibration
batches; then a greedy pass starts every module at the lowest bit width and
repeatedly upgrades the module whose next step buys the most error reduction per
extra stored bit, while the parameter-weighted average stays within
``avg_weight_bits``. Sensitivities are assumed additive (the usual first-order
approximation); the paper's exact schedule is not published.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from quantization.apply import Calibration, iter_batches
from quantization.config import QuantMethodConfig
from quantization.linear import QuantLinear
from quantization.quantizers import WeightQuantSpec
from quantization.selection import set_submodule

log = logging.getLogger(__name__)


@torch.no_grad()
def action_sensitivity(
    model: nn.Module,
    targets: dict[str, nn.Linear],
    calibration: Calibration,
    cfg: QuantMethodConfig,
) -> dict[str, dict[int, float]]:
    """Mean squared action error when only module ``name`` is quantized to ``bits``."""
    batches = list(iter_batches(calibration, cfg.qvla.calib_batches))
    refs = [calibration.run(model, b).detach().float() for b in batches]
    out: dict[str, dict[int, float]] = {}
    for name, lin in targets.items():
        out[name] = {}
        for bits in sorted(cfg.qvla.bit_choices):
            spec = WeightQuantSpec(
                bits, cfg.group_for(lin.in_features), cfg.weight_symmetric, cfg.torch_scale_dtype
            )
            q = QuantLinear.from_linear(
                lin, spec, act_bits=32, backend="fake", layout="rowmajor"
            ).to(lin.weight.device)
            set_submodule(model, name, q)
            try:
                err = sum(
                    float((calibration.run(model, b).float() - r).pow(2).mean())
                    for b, r in zip(batches, refs)
                ) / len(batches)
            finally:
                set_submodule(model, name, lin)
            out[name][bits] = err
    return out


def greedy_allocation(
    sensitivity: dict[str, dict[int, float]], sizes: dict[str, int], avg_bits: float
) -> dict[str, int]:
    """Bits per module minimizing summed error under ``sum(bits*size) <= avg_bits*sum(size)``."""
    alloc = {n: min(s) for n, s in sensitivity.items()}
    budget = avg_bits * sum(sizes.values())
    used = sum(alloc[n] * sizes[n] for n in alloc)
    while True:
        best, best_gain = None, 0.0
        for n, s in sensitivity.items():
            higher = [b for b in sorted(s) if b > alloc[n]]
            if not higher:
                continue
            nb = higher[0]
            extra = (nb - alloc[n]) * sizes[n]
            if used + extra > budget + 1e-9:
                continue
            gain = (s[alloc[n]] - s[nb]) / extra
            if best is None or gain > best_gain:
                best, best_gain = (n, nb, extra), gain
        if best is None:
            return alloc
        n, nb, extra = best
        alloc[n] = nb
        used += extra


def allocate_bits(
    model: nn.Module,
    targets: dict[str, nn.Linear],
    calibration: Calibration,
    cfg: QuantMethodConfig,
) -> dict[str, int]:
    """Per-module weight bits for ``targets`` under the config's average-bit budget."""
    sens = action_sensitivity(model, targets, calibration, cfg)
    sizes = {n: lin.weight.numel() for n, lin in targets.items()}
    alloc = greedy_allocation(sens, sizes, cfg.qvla.avg_weight_bits)
    log.info("qvla allocation: %s", alloc)
    return alloc
