"""``quantize_model``: swap the selected ``nn.Linear`` layers of any model for ``QuantLinear``.

Methods (``QuantMethodConfig.name``): the entries of ``quantization.methods.METHODS`` (the
built-ins, listed in ``quantization.builtin_methods``); each says whether it calibrates and what
it computes before the swap (``prepare``: SmoothQuant's input scales, QVLA's bits).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

import quantization.builtin_methods  # noqa: F401  (registers the built-in methods)
from quantization.calib_batches import CalibrationBatches
from quantization.config import QuantMethodConfig, method_config
from quantization.errors import CalibrationError
from quantization.linear import QuantLinear
from quantization.methods import Prepared, get_method
from quantization.mixed import MixedQuantLinear
from quantization.quantizers import WeightQuantSpec
from quantization.selection import (
    module_group,
    selected_linears,
    selected_weight_only,
    set_submodule,
)
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
    # The method's start (DyQ: BF16, the safe side; its controller lowers it per step).
    return get_method(cfg.name).act_bits(cfg)


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
    method = get_method(cfg.name)
    if method.needs_calibration and calibration is None:
        raise CalibrationError(
            f"quantization.name={cfg.name!r} needs calibration batches "
            "(pass calibration=CalibrationBatches(batches=...))"
        )
    prepared = method.prepare(model, targets, calibration, cfg) if method.prepare else Prepared()
    input_scales, bits = prepared.input_scales, prepared.bits
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
