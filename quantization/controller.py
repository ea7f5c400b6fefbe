"""Precision controllers: what activation bits the next inference runs at.

Every controller has the same small interface, so a runtime can wrap any policy
with one: ``reset()`` at an episode start, ``update(executed_actions) -> bits`` after
actions are executed, ``bits`` for the next inference, ``timeline`` / ``histogram()``
for the results row. ``FixedPrecision`` serves the static methods (BF16, W8A8, W4A16,
W4A4, SmoothQuant, QVLA); ``DyQController`` serves ``dyq``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
from torch import nn

import quantization.builtin_methods  # noqa: F401  (registers the built-in methods)
from quantization.config import QuantMethodConfig, method_config
from quantization.dyq import precision_histogram
from quantization.errors import check_choice
from quantization.methods import get_method


@runtime_checkable
class PrecisionController(Protocol):
    """Chooses the activation bits (16 = BF16, 8, 4, 2; 32 = fp32) of the next inference."""

    bits: int
    timeline: list[int]

    def reset(self) -> None: ...

    def update(self, actions: np.ndarray) -> int: ...

    def histogram(self) -> dict[int, float]: ...


class FixedPrecision:
    """A static method's controller: the same bits every step (recorded for the histogram)."""

    def __init__(self, bits: int) -> None:
        check_choice("act_bits", bits, (32, 16, 8, 4, 2))
        self.bits = bits
        self.timeline: list[int] = []

    def reset(self) -> None:
        self.timeline = []

    def update(self, actions: np.ndarray) -> int:
        del actions  # static: the precision does not depend on motion
        self.timeline.append(self.bits)
        return self.bits

    def histogram(self) -> dict[int, float]:
        if self.bits not in (2, 4, 8, 16):
            return {self.bits: 1.0 if self.timeline else 0.0}
        return precision_histogram(self.timeline)


def make_precision_controller(
    cfg: QuantMethodConfig | dict | Any, model: nn.Module | None = None
) -> PrecisionController:
    """The controller of a method config; binds ``model`` (already quantized) for DyQ."""
    cfg = method_config(cfg)
    method = get_method(cfg.name)
    if method.controller is not None:
        return method.controller(cfg, model)
    return FixedPrecision(cfg.act_bits)
