"""The built-in quantization methods, registered with ``quantization.methods``.

- ``none``: model unchanged (fp32/bf16 is then a matter of accounting and casting).
- ``w8a8`` / ``w4a16`` / ``w4a4``: static weight bits, activation bits as configured.
- ``smoothquant``: migrate activation outliers into the weights first (calibrates).
- ``qvla``: per-Linear / per-channel weight bits by action-output sensitivity (calibrates).
- ``dyq``: INT4 weights once; the layers start at BF16 activations and
  :class:`quantization.dyq.DyQController` switches them per step.
"""

from __future__ import annotations

from torch import nn

from quantization.calib_batches import CalibrationBatches
from quantization.config import QuantMethodConfig
from quantization.dyq import DyQController
from quantization.methods import Prepared, QuantMethod, register_method
from quantization.qvla import allocate_bits
from quantization.smoothquant import smoothing_scales


def _smoothquant(
    model: nn.Module,
    targets: dict[str, nn.Linear],
    calibration: CalibrationBatches | None,
    cfg: QuantMethodConfig,
) -> Prepared:
    return Prepared(input_scales=smoothing_scales(model, targets, calibration, cfg.smoothquant))


def _qvla(
    model: nn.Module,
    targets: dict[str, nn.Linear],
    calibration: CalibrationBatches | None,
    cfg: QuantMethodConfig,
) -> Prepared:
    return Prepared(bits=allocate_bits(model, targets, calibration, cfg))


def _dyq_controller(cfg: QuantMethodConfig, model: nn.Module | None) -> DyQController:
    ctrl = DyQController(cfg.dyq)
    return ctrl.bind(model) if model is not None else ctrl


for _name in ("none", "w8a8", "w4a16", "w4a4"):
    register_method(QuantMethod(_name, summary="static weight and activation bits"))
register_method(QuantMethod(
    "smoothquant", needs_calibration=True, prepare=_smoothquant,
    summary="SmoothQuant: activation outliers migrated into the weights",
))  # fmt: skip
register_method(QuantMethod(
    "qvla", needs_calibration=True, prepare=_qvla,
    summary="QVLA-style mixed weight bits by action-output sensitivity",
))  # fmt: skip
# DyQ starts at BF16 (the safe side); the controller lowers it per step.
register_method(QuantMethod(
    "dyq", start_act_bits=16, controller=_dyq_controller,
    summary="DyQ-VLA: INT4 weights, activation bits switched per step by motion",
))  # fmt: skip
