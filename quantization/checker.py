"""``check_quantizer``: the contract every quantization method keeps, checked the way gymnasium's
``env_checker`` checks an environment (each failed check raises naming what broke).

Per tiny model of the zoo (seeded random weights and inputs) and a method config:

- the config validates and names a registered method (``quantization.methods``);
- a method that ``needs_calibration`` refuses to run without calibration batches;
- round trip: the quantized model returns the same output keys, shapes and dtypes as the
  original, all finite; a method that quantizes weights replaces at least one layer, reports
  weight bits in 2..8, and every replaced layer dequantizes to its original weight's shape and
  dtype; quantizing a second copy gives bit-identical outputs (deterministic);
- memory accounting (``model_memory_bytes``, bytes): a method that quantizes weights takes
  fewer bytes than the model at ``high_bits``, and for methods whose bits come from the config
  alone the bytes predicted from the unquantized model match the quantized model's within
  ``MEMORY_RTOL`` (what the ecc cost model is told is what runs);
- controller: ``make_precision_controller`` returns bits in {32, 16, 8, 4, 2}, ``bits`` equals
  the last returned value, one timeline entry per update, a histogram that sums to 1, and
  ``reset`` clears the timeline.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.zoo import random_inputs, random_model
from core.errors import VeccError
from quantization.apply import quantize_model
from quantization.calib_batches import CalibrationBatches
from quantization.config import QuantMethodConfig, method_config
from quantization.controller import make_precision_controller
from quantization.errors import CalibrationError
from quantization.linear import QuantLinear
from quantization.memory import model_memory_bytes
from quantization.methods import get_method
from quantization.mixed import MixedQuantLinear

CHECK_SHAPES = ("openvla-tiny", "pi0-tiny")
BITS = (32, 16, 8, 4, 2)
# Bytes predicted from the config may differ from the quantized model's by this share:
# QuantLinear keeps its bias in fp32 while the prediction counts it at high_bits
# (openvla-tiny w8a8: 1,876,992 B predicted, 1,881,856 B held, 0.26%).
MEMORY_RTOL = 0.01


class QuantizerContractError(VeccError, AssertionError):
    """A quantization method broke its contract; the message names the method and the check."""


def _logits_or_actions(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    out = model(batch)  # token families: the logits are the differentiable output
    return out["token_logits"] if "token_logits" in out else out["actions"]


def _calibration(shape: str, n: int = 2) -> CalibrationBatches:
    batches = [random_inputs(shape, batch=2, seed=10 + i) for i in range(n)]
    return CalibrationBatches(batches, run=_logits_or_actions)


def _outputs(model: nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out = model(inputs)
    return out if isinstance(out, dict) else {"actions": out}


def check_quantizer(
    cfg: QuantMethodConfig | dict | Any, shapes: Sequence[str] = CHECK_SHAPES
) -> None:
    """Raise :class:`QuantizerContractError` on the first broken check (see the module doc)."""
    cfg = method_config(cfg)
    method = get_method(cfg.name)
    for shape in shapes:
        where = f"quantization.name={cfg.name!r} on {shape}"
        fp = random_model(shape, seed=0)
        inputs = random_inputs(shape, seed=1)
        ref = _outputs(fp, inputs)
        calibration = _calibration(shape)
        if method.needs_calibration:
            try:
                quantize_model(copy.deepcopy(fp), cfg, None)
            except CalibrationError:
                pass
            else:
                raise QuantizerContractError(f"{where}: needs_calibration but ran without it")
        q, q2 = copy.deepcopy(fp), copy.deepcopy(fp)
        report = quantize_model(q, cfg, calibration)
        quantize_model(q2, cfg, calibration)
        out, out2 = _outputs(q, inputs), _outputs(q2, inputs)
        _check_round_trip(where, cfg, fp, q, report.layers, ref, out, out2)
        _check_memory(where, cfg, fp, q, bits_from_config=method.prepare is None)
        _check_controller(where, cfg, q)


def _check_round_trip(
    where: str,
    cfg: QuantMethodConfig,
    fp: nn.Module,
    q: nn.Module,
    layers: dict[str, dict[str, Any]],
    ref: dict[str, torch.Tensor],
    out: dict[str, torch.Tensor],
    out2: dict[str, torch.Tensor],
) -> None:
    if set(out) != set(ref):
        raise QuantizerContractError(f"{where}: outputs {sorted(out)}; allowed: {sorted(ref)}")
    for k, r in ref.items():
        o = out[k]
        if o.shape != r.shape or o.dtype != r.dtype:
            raise QuantizerContractError(f"{where}: output {k!r} is {tuple(o.shape)} {o.dtype}; "
                                         f"allowed: {tuple(r.shape)} {r.dtype}")  # fmt: skip
        if not torch.isfinite(o).all():
            raise QuantizerContractError(f"{where}: output {k!r} has non-finite values")
        if not torch.equal(o, out2[k]):
            raise QuantizerContractError(f"{where}: two quantized copies disagree on {k!r}")
    if not cfg.quantizes_weights:
        return
    if not layers:
        raise QuantizerContractError(f"{where}: quantizes weights but replaced no layer")
    for name, info in layers.items():
        b = float(info["weight_bits"])
        if not 2 <= b <= 8:
            raise QuantizerContractError(f"{where}: layer {name!r} weight_bits={b}; allowed: 2..8")
    fp_modules = dict(fp.named_modules())
    for name, mod in q.named_modules():
        if isinstance(mod, QuantLinear | MixedQuantLinear) and name in fp_modules:
            w, orig = mod.dequantized_weight(), fp_modules[name].weight
            if w.shape != orig.shape or w.dtype != orig.dtype:
                raise QuantizerContractError(f"{where}: layer {name!r} dequantizes to "
                                             f"{tuple(w.shape)} {w.dtype}; allowed: "
                                             f"{tuple(orig.shape)} {orig.dtype}")  # fmt: skip


def _check_memory(
    where: str, cfg: QuantMethodConfig, fp: nn.Module, q: nn.Module, bits_from_config: bool
) -> None:
    actual = model_memory_bytes(q, cfg).total
    high = model_memory_bytes(fp, {"name": "none", "weight_bits": cfg.high_bits}).total
    if cfg.quantizes_weights and not actual < high:
        raise QuantizerContractError(f"{where}: {actual} B quantized is not below "
                                     f"{high} B at {cfg.high_bits} bits")  # fmt: skip
    if bits_from_config:
        predicted = model_memory_bytes(fp, cfg).total
        if not math.isclose(predicted, actual, rel_tol=MEMORY_RTOL):
            raise QuantizerContractError(f"{where}: predicted {predicted} B from the config, "
                                         f"the quantized model holds {actual} B")  # fmt: skip


def _check_controller(where: str, cfg: QuantMethodConfig, q: nn.Module) -> None:
    ctrl = make_precision_controller(cfg, q)
    rng = np.random.default_rng(0)
    for episode in range(2):
        ctrl.reset()
        if list(ctrl.timeline):
            raise QuantizerContractError(f"{where}: reset() left {len(ctrl.timeline)} entries")
        for step in range(30):
            actions = rng.normal(0.0, 0.02 * (1 + step % 7), size=(1, 7))
            bits = ctrl.update(actions)
            if bits not in BITS or ctrl.bits != bits:
                raise QuantizerContractError(f"{where}: controller returned bits={bits!r} "
                                             f"(bits attribute {ctrl.bits!r}); allowed: "
                                             f"{', '.join(map(str, BITS))}")  # fmt: skip
            if len(ctrl.timeline) != step + 1:
                raise QuantizerContractError(f"{where}: {len(ctrl.timeline)} timeline entries "
                                             f"after {step + 1} updates (episode {episode})")  # fmt: skip
        total = sum(ctrl.histogram().values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise QuantizerContractError(f"{where}: histogram sums to {total}; allowed: 1")
