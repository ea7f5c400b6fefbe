"""QVLA-style mixed precision: weight bits by action-space sensitivity.

QVLA allocates precision channel-wise by how much quantizing a channel perturbs the
*action* output rather than the layer output. Two granularities (``qvla.granularity``):

- ``channel``: units are groups of ``channel_group`` output channels of a Linear. For each
  unit and bit width the action change is estimated to first order: with the actual
  quantization error ``dW`` of those channels and ``g_r = d(v_r . a) / dW`` for random
  action-space probes ``v_r ~ N(0, I)``, ``E_r[(sum g_r * dW)^2] = ||J dW||^2``. One
  backward pass per probe and batch serves every layer at once. If the action output is
  not differentiable (argmax-decoded tokens), let ``CalibrationBatches.run`` return logits.
- ``module``: units are whole Linears; each is quantized alone (fake path) and the mean
  squared action error on the calibration batches is measured directly.

Allocation: every unit starts at the lowest width; a greedy pass (max-heap) repeatedly
takes the upgrade with the largest error reduction per extra stored bit that still fits
``avg_weight_bits`` (parameter-weighted). Sensitivities are assumed additive.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Hashable

import torch
from torch import nn

from quantization.calib_batches import CalibrationBatches, iter_batches
from quantization.config import QuantMethodConfig
from quantization.errors import CalibrationError
from quantization.linear import QuantLinear
from quantization.quantizers import WeightQuantSpec
from quantization.selection import set_submodule

log = logging.getLogger(__name__)


def _spec(cfg: QuantMethodConfig, lin: nn.Linear, bits: int) -> WeightQuantSpec:
    return WeightQuantSpec(
        bits,
        cfg.group_for(lin.in_features),
        cfg.weight_symmetric,
        cfg.torch_scale_dtype,
        cfg.weight_clip_search,
    )


@torch.no_grad()
def action_sensitivity(
    model: nn.Module,
    targets: dict[str, nn.Linear],
    calibration: CalibrationBatches,
    cfg: QuantMethodConfig,
) -> dict[str, dict[int, float]]:
    """Mean squared action error when only module ``name`` is quantized to ``bits``."""
    batches = list(iter_batches(calibration, cfg.qvla.calib_batches))
    refs = [calibration.run(model, b).detach().float() for b in batches]
    out: dict[str, dict[int, float]] = {}
    for name, lin in targets.items():
        out[name] = {}
        for bits in sorted(cfg.qvla.bit_choices):
            q = QuantLinear.from_linear(lin, _spec(cfg, lin, bits), act_bits=32, backend="fake").to(
                lin.weight.device
            )
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


def channel_groups(out_features: int, group: int) -> torch.Tensor:
    """Unit index of every output channel (groups of ``group``; the last may be smaller)."""
    return torch.arange(out_features) // group


def channel_sensitivity(
    model: nn.Module,
    targets: dict[str, nn.Linear],
    calibration: CalibrationBatches,
    cfg: QuantMethodConfig,
    seed: int = 0,
) -> dict[str, dict[int, torch.Tensor]]:
    """First-order action-space error ``[units]`` of each layer's channel groups per bits."""
    q = cfg.qvla
    bits = sorted(q.bit_choices)
    names = list(targets)
    weights = [targets[n].weight for n in names]
    with torch.no_grad():
        deltas = {
            n: {
                b: QuantLinear.from_linear(lin, _spec(cfg, lin, b), act_bits=32, backend="fake")
                .dequantized_weight()
                .to(lin.weight.device)
                - lin.weight.float()
                for b in bits
            }
            for n, lin in targets.items()
        }
    gids = {n: channel_groups(targets[n].out_features, q.channel_group) for n in names}
    sens = {
        n: {b: torch.zeros(int(gids[n].max()) + 1, dtype=torch.float64) for b in bits}
        for n in names
    }
    flags = [w.requires_grad for w in weights]
    gen = torch.Generator().manual_seed(seed)
    count = 0
    try:
        for w in weights:
            w.requires_grad_(True)
        for batch in iter_batches(calibration, q.calib_batches):
            with torch.enable_grad():
                out = calibration.run(model, batch).float()
                if not out.requires_grad:
                    raise CalibrationError(
                        "qvla granularity=channel needs a differentiable action output; "
                        "return logits from CalibrationBatches.run or use granularity=module"
                    )
                for r in range(q.probes):
                    v = torch.randn(out.shape, generator=gen).to(out.device)
                    grads = torch.autograd.grad(
                        (out * v).sum(), weights, retain_graph=r < q.probes - 1, allow_unused=True
                    )
                    for n, g in zip(names, grads):
                        if g is None:
                            continue
                        for b in bits:
                            per_channel = (g.float() * deltas[n][b]).sum(1).double().cpu()
                            unit = torch.zeros_like(sens[n][b]).index_add_(0, gids[n], per_channel)
                            sens[n][b] += unit.pow(2)
                    count += 1
    finally:
        for w, f in zip(weights, flags):
            w.requires_grad_(f)
    return {n: {b: s / max(count, 1) for b, s in d.items()} for n, d in sens.items()}


def greedy_allocation(
    sensitivity: dict[Hashable, dict[int, float]], sizes: dict[Hashable, int], avg_bits: float
) -> dict[Hashable, int]:
    """Bits per unit minimizing summed error under ``sum(bits*size) <= avg_bits*sum(size)``.

    Each step takes the fitting upgrade (a unit to its next wider choice) with the
    largest error reduction per extra bit; an upgrade that does not fit is dropped (the
    budget only shrinks). Ties break by insertion order.
    """
    alloc = {u: min(s) for u, s in sensitivity.items()}
    budget = avg_bits * sum(sizes.values()) + 1e-9
    used = sum(alloc[u] * sizes[u] for u in alloc)
    order = {u: i for i, u in enumerate(sensitivity)}
    heap: list = []

    def push(u: Hashable) -> None:
        s = sensitivity[u]
        higher = [b for b in sorted(s) if b > alloc[u]]
        if higher:
            nb = higher[0]
            extra = (nb - alloc[u]) * sizes[u]
            heapq.heappush(heap, (-(s[alloc[u]] - s[nb]) / extra, order[u], nb, extra))

    units = list(sensitivity)
    for u in units:
        push(u)
    while heap:
        _, i, nb, extra = heapq.heappop(heap)
        u = units[i]
        if used + extra > budget:
            continue
        alloc[u] = nb
        used += extra
        push(u)
    return alloc


def allocate_bits(
    model: nn.Module,
    targets: dict[str, nn.Linear],
    calibration: CalibrationBatches,
    cfg: QuantMethodConfig,
) -> dict[str, int | torch.Tensor]:
    """Weight bits for ``targets``: an int per module, or a ``[out]`` tensor per channel."""
    if cfg.qvla.granularity == "module":
        sens = action_sensitivity(model, targets, calibration, cfg)
        sizes = {n: lin.weight.numel() for n, lin in targets.items()}
        alloc = greedy_allocation(sens, sizes, cfg.qvla.avg_weight_bits)
        log.info("qvla module allocation: %s", alloc)
        return alloc
    csens = channel_sensitivity(model, targets, calibration, cfg)
    unit_sens: dict[Hashable, dict[int, float]] = {}
    sizes: dict[Hashable, int] = {}
    for n, lin in targets.items():
        gids = channel_groups(lin.out_features, cfg.qvla.channel_group)
        counts = torch.bincount(gids)
        for g in range(len(counts)):
            unit_sens[(n, g)] = {b: float(t[g]) for b, t in csens[n].items()}
            sizes[(n, g)] = int(counts[g]) * lin.in_features
    alloc = greedy_allocation(unit_sens, sizes, cfg.qvla.avg_weight_bits)
    out: dict[str, int | torch.Tensor] = {}
    for n, lin in targets.items():
        gids = channel_groups(lin.out_features, cfg.qvla.channel_group)
        per_group = torch.tensor([alloc[(n, g)] for g in range(int(gids.max()) + 1)])
        per_channel = per_group[gids]
        uniq = per_channel.unique()
        out[n] = int(uniq[0]) if len(uniq) == 1 else per_channel
    return out
