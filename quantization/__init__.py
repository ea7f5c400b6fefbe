"""Static and dynamic (DyQ-VLA) quantization, kernels and memory accounting.

Public API (see docs/quantization.md):

- ``quantize_model(model, method_cfg, calibration=None)``: swap selected Linears for
  :class:`QuantLinear` per a method config (the Hydra group ``quantization``).
- ``QuantLinear``: one packed INT8/4/2 weight copy, run-time switchable ``act_bits``.
- ``set_act_bits(model, bits)``; ``make_precision_controller(cfg, model)`` /
  ``DyQController`` choose bits per inference; ``PrecisionControlledPolicy`` wraps a
  ``VLAPolicy``-like object with one.
- ``model_memory_bytes(model, cfg)``: exact per-group bytes (meta-device friendly);
  ``measure_peak_rss(fn)``.
- ``precision_map(cfg)``, ``stage_precisions(stages, pmap)``, ``ecc_precision_map(stages,
  pmap)``: per-stage precision for the ``ecc`` cost model.
"""

from quantization.apply import QuantReport, quantize_model
from quantization.calib_batches import CalibrationBatches
from quantization.config import QuantMethodConfig, method_config
from quantization.controller import FixedPrecision, PrecisionController, make_precision_controller
from quantization.dyq import DyQController, calibrate_thresholds, precision_histogram
from quantization.errors import CalibrationError, QuantConfigError, QuantizationError
from quantization.linear import QuantLinear, quant_linears, set_act_bits
from quantization.memory import MemoryBreakdown, measure_peak_rss, model_memory_bytes
from quantization.mixed import MixedQuantLinear
from quantization.policy import PrecisionControlledPolicy
from quantization.precision import (
    GroupPrecision,
    PrecisionMap,
    StagePrecision,
    ecc_precision_map,
    precision_map,
    stage_precisions,
)
from quantization.quantizers import WeightQuantSpec, fake_quant_activation

__all__ = [
    "CalibrationBatches",
    "CalibrationError",
    "DyQController",
    "FixedPrecision",
    "GroupPrecision",
    "MemoryBreakdown",
    "MixedQuantLinear",
    "PrecisionControlledPolicy",
    "PrecisionController",
    "PrecisionMap",
    "QuantConfigError",
    "QuantLinear",
    "QuantMethodConfig",
    "QuantReport",
    "QuantizationError",
    "StagePrecision",
    "WeightQuantSpec",
    "calibrate_thresholds",
    "ecc_precision_map",
    "fake_quant_activation",
    "make_precision_controller",
    "measure_peak_rss",
    "method_config",
    "model_memory_bytes",
    "precision_histogram",
    "precision_map",
    "quant_linears",
    "quantize_model",
    "set_act_bits",
    "stage_precisions",
]
