"""The quantization-method plug-in: one :class:`QuantMethod` per ``quantization.name``.

A method says whether it calibrates (``needs_calibration``), what it computes from the
calibration batches before the Linears are swapped (``prepare`` -> :class:`Prepared`), which
activation bits the swapped layers start at, and which precision controller chooses the bits
per inference (``controller``; default: the fixed ``act_bits``). ``quantize_model``,
``make_precision_controller`` and the start-up config checks read only this entry, so a new
method is one module that calls :func:`register_method` plus one ``conf/quantization/*.yaml``
(docs/extending.md). The built-in methods register in ``quantization.builtin_methods``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from core.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch import nn

    from quantization.calib_batches import CalibrationBatches

# A ``quantization.config.QuantMethodConfig`` and a ``quantization.controller.PrecisionController``
# (typed ``Any``: both modules read this registry, so importing them here would close a cycle).
QuantMethodConfig = Any
PrecisionController = Any

# The Hydra group's yaml files (conf/quantization/<option>.yaml).
CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "quantization"


@dataclass
class Prepared:
    """What a method's ``prepare`` hands ``quantize_model`` (keys: dotted Linear names).

    input_scales: per-Linear input smoothing factors folded into the weights (SmoothQuant).
    bits: per-Linear weight bits (an int, or a tensor of bits per output channel: QVLA).
    """

    input_scales: dict[str, torch.Tensor] = field(default_factory=dict)
    bits: dict[str, int | torch.Tensor] = field(default_factory=dict)


# (model, selected Linears by name, calibration batches or None, config) -> Prepared
PrepareFn = Callable[
    ["nn.Module", "dict[str, nn.Linear]", "CalibrationBatches | None", "QuantMethodConfig"],
    Prepared,
]
# (config, the quantized model or None) -> the controller of the activation bits per inference
ControllerFn = Callable[["QuantMethodConfig", "nn.Module | None"], "PrecisionController"]


@dataclass(frozen=True)
class QuantMethod:
    """One quantization method (the value of ``quantization.name``).

    needs_calibration: ``quantize_model`` refuses to run without calibration batches, and the
        main job needs ``+calibration.demos`` (demonstration frames).
    prepare: computed before the Linears are swapped; None: nothing (static bits).
    start_act_bits: activation bits the swapped layers start at; None: ``cfg.act_bits``.
    controller: chooses the activation bits per inference; None: fixed at ``cfg.act_bits``.
    validate: checks the method's own knobs (``cfg.options`` for a plug-in); raises
        ``QuantConfigError``.
    """

    name: str
    needs_calibration: bool = False
    prepare: PrepareFn | None = None
    start_act_bits: int | None = None
    controller: ControllerFn | None = None
    validate: Callable[[QuantMethodConfig], None] | None = None
    summary: str = ""

    def act_bits(self, cfg: QuantMethodConfig) -> int:
        """Activation bits of the freshly quantized layers."""
        return cfg.act_bits if self.start_act_bits is None else self.start_act_bits


METHODS: Registry[QuantMethod] = Registry("quantization method", "quantization.name")


def register_method(method: QuantMethod, *, replace: bool = False) -> QuantMethod:
    """Make ``method`` selectable as ``quantization.name=<method.name>``."""
    return METHODS.add(method.name, method, replace=replace)


def get_method(name: str) -> QuantMethod:
    """The registered method ``name``; an unknown name lists the registered ones."""
    return METHODS.get(name)


def calibrated_methods() -> tuple[str, ...]:
    """Names of the registered methods that calibrate on demonstration frames."""
    return tuple(n for n, m in METHODS.items() if m.needs_calibration)


def option_needs_calibration(option: str, conf_dir: Path | None = None) -> bool:
    """Whether ``quantization=<option>`` (a yaml of the Hydra group) selects a method that
    calibrates; the yaml's ``name`` field says which method."""
    data = yaml.safe_load(((conf_dir or CONF_DIR) / f"{option}.yaml").read_text()) or {}
    return get_method(str(data.get("name", "none"))).needs_calibration
