"""``quantize_model``: swap the selected ``nn.Linear`` layers of any model for ``QuantLinear``.

Methods (``QuantMethodConfig.name``):

- ``none``: model unchanged (fp32/bf16 is then a matter of accounting and casting).
- ``w8a8`` / ``w4a16`` / ``w4a4``: static weight bits, activation bits as configured.
- ``smoothquant``: migrate activation outliers into weights first (needs calibration).
- ``qvla``: per-module weight bits by action-output sensitivity (needs calibration).
- ``dyq``: INT4 weights once; activation bits are then switched per step by
  :class:`quantization.dyq.DyQController` via :func:`quantization.linear.set_act_bits`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from quantization.calib_batches import CalibrationBatches
from quantization.config import QuantMethodConfig, method_config
from quantization.errors import CalibrationError
from quantization.linear import QuantLinear
from quantization.mixed import MixedQuantLinear
from quantization.quantizers import WeightQuantSpec
from quantization.qvla import allocate_bits
from quantization.selection import (
    module_group,
    selected_linears,
    selected_weight_only,
    set_submodule,
)
from quantization.smoothquant import smoothing_scales
from quantization.weight_only import QuantConv2d, QuantEmbedding

log = logging.getLogger(__name__)


@dataclass
class QuantReport:
    """What ``quantize_model`` did: per replaced layer its group, weight bits and kernel."""

    method: str
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def num_layers(self) -> int:
        return len(self.layers)


def _spec(cfg: QuantMethodConfig, in_features: int, bits: int | None = None) -> WeightQuantSpec:
    return WeightQuantSpec(
        bits or cfg.weight_bits,
        cfg.group_for(in_features),
        cfg.weight_symmetric,
        cfg.torch_scale_dtype,
        cfg.weight_clip_search,
    )


def _act_bits(cfg: QuantMethodConfig) -> int:
    # DyQ starts at BF16 (the safe side); the controller lowers it per step.
    return 16 if cfg.name == "dyq" else cfg.act_bits


@torch.no_grad()
def quantize_model(
    model: nn.Module,
    method_cfg: QuantMethodConfig | dict | Any = None,
    calibration: CalibrationBatches | None = None,
) -> QuantReport:
    """Quantize ``model`` in place per ``method_cfg``; returns a report of replaced layers.

    ``calibration`` is required by ``smoothquant`` and ``qvla``.
    """
    cfg = method_config(method_cfg)
    report = QuantReport(cfg.name)
    if not cfg.quantizes_weights:
        return report
    targets = selected_linears(model, cfg)
    input_scales: dict[str, torch.Tensor] = {}
    bits: dict[str, int | torch.Tensor] = {}
    if cfg.name in ("smoothquant", "qvla") and calibration is None:
        raise CalibrationError(
            f"quantization.name={cfg.name!r} needs calibration batches "
            "(pass calibration=CalibrationBatches(batches=...))"
        )
    if cfg.name == "smoothquant":
        input_scales = smoothing_scales(model, targets, calibration, cfg.smoothquant)
    elif cfg.name == "qvla":
        bits = allocate_bits(model, targets, calibration, cfg)
    for name, lin in targets.items():
        b = bits.get(name, cfg.weight_bits_for(module_group(name, cfg)))
        if isinstance(b, torch.Tensor):  # channel-wise QVLA: bits per output channel
            q = MixedQuantLinear(
                lin,
                b,
                _spec(cfg, lin.in_features),
                act_bits=_act_bits(cfg),
                act_symmetric=cfg.act_symmetric,
                backend=cfg.backend,
            ).to(lin.weight.device)
            set_submodule(model, name, q)
            report.layers[name] = {
                "group": module_group(name, cfg),
                "weight_bits": q.mean_bits(),
                "group_size": cfg.group_for(lin.in_features),
                "layout": "mixed",
                "kernel": "+".join(sorted({p.kernel_for() for p in q.parts.values()})),
            }
            continue
        q = QuantLinear.from_linear(
            lin,
            _spec(cfg, lin.in_features, b),
            act_bits=_act_bits(cfg),
            act_symmetric=cfg.act_symmetric,
            backend=cfg.backend,
            input_scale=input_scales.get(name),
        ).to(lin.weight.device)
        set_submodule(model, name, q)
        report.layers[name] = {
            "group": module_group(name, cfg),
            "weight_bits": b,
            "group_size": q.spec.group_size,
            "layout": q.layout,
            "kernel": q.kernel_for(),
        }
    n_linear = report.num_layers
    for name, (mod, b) in selected_weight_only(model, cfg).items():
        spec = WeightQuantSpec(
            b, None, cfg.weight_symmetric, cfg.torch_scale_dtype, cfg.weight_clip_search
        )
        wrapped = (
            QuantEmbedding(mod, spec) if isinstance(mod, nn.Embedding) else QuantConv2d(mod, spec)
        )
        set_submodule(model, name, wrapped)
        report.layers[name] = {
            "group": module_group(name, cfg),
            "weight_bits": b,
            "group_size": None,
            "layout": "rowmajor",
            "kernel": "weight_only",
        }
    log.info(
        "quantization %s: replaced %d Linear layers and %d embedding/conv weights",
        cfg.name,
        n_linear,
        report.num_layers - n_linear,
    )
    return report
