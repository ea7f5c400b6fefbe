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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from quantization.config import QuantMethodConfig, method_config
from quantization.errors import CalibrationError
from quantization.linear import QuantLinear
from quantization.quantizers import WeightQuantSpec
from quantization.selection import (
    module_group,
    selected_linears,
    selected_weight_only,
    set_submodule,
)
from quantization.weight_only import QuantConv2d, QuantEmbedding

log = logging.getLogger(__name__)

# Calls the model on one calibration batch and returns its action output.
RunFn = Callable[[nn.Module, Any], torch.Tensor]


def default_run(model: nn.Module, batch: Any) -> torch.Tensor:
    """``model(*batch)`` for tuples, else ``model(batch)`` (zoo models take one input dict).

    Dict outputs return ``["actions"]`` (the ``agents.staged`` output convention).
    """
    if isinstance(batch, tuple):
        out = model(*batch)
    else:
        out = model(batch)
    if isinstance(out, dict):
        out = out["actions"]
    return out


@dataclass
class Calibration:
    """Calibration data: batches (e.g. demonstration frames) and how to run the model on one."""

    batches: Sequence[Any]
    run: RunFn = default_run

    def __post_init__(self) -> None:
        if len(self.batches) == 0:
            raise CalibrationError("calibration.batches is empty; pass at least one batch")


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
    calibration: Calibration | None = None,
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
            "(pass calibration=Calibration(batches=...))"
        )
    if cfg.name == "smoothquant":
        from quantization.smoothquant import smoothing_scales

        input_scales = smoothing_scales(model, targets, calibration, cfg.smoothquant)
    elif cfg.name == "qvla":
        from quantization.qvla import allocate_bits

        bits = allocate_bits(model, targets, calibration, cfg)
    for name, lin in targets.items():
        b = bits.get(name, cfg.weight_bits_for(module_group(name, cfg)))
        if isinstance(b, torch.Tensor):  # channel-wise QVLA: bits per output channel
            from quantization.mixed import MixedQuantLinear

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


def iter_batches(calibration: Calibration, limit: int) -> Iterable[Any]:
    """The first ``limit`` calibration batches."""
    for i, b in enumerate(calibration.batches):
        if i >= limit:
            break
        yield b
