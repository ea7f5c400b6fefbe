"""Calibration data for the methods that need it (SmoothQuant maxima, QVLA sensitivity).

A leaf module: ``apply`` (which dispatches to the methods) and the methods themselves
(``smoothquant``, ``qvla``) all read it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from quantization.errors import CalibrationError

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
class CalibrationBatches:
    """Calibration data: batches (e.g. demonstration frames) and how to run the model on one."""

    batches: Sequence[Any]
    run: RunFn = default_run

    def __post_init__(self) -> None:
        if len(self.batches) == 0:
            raise CalibrationError("calibration.batches is empty; pass at least one batch")


def iter_batches(calibration: CalibrationBatches, limit: int) -> Iterable[Any]:
    """The first ``limit`` calibration batches."""
    for i, b in enumerate(calibration.batches):
        if i >= limit:
            break
        yield b
