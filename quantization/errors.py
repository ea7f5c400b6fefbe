"""Exceptions raised by the quantization package.

Every error about user input is a :class:`core.errors.VeccError` (a ``ValueError``) whose
message names the field, the bad value and the allowed values, so a Hydra override typo is
obvious.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.errors import VeccError, not_allowed


class QuantizationError(VeccError):
    """Base class for bad quantization input (configs, shapes, bit widths)."""


class QuantConfigError(QuantizationError):
    """A configuration field holds a value outside its allowed set or range."""

    def __init__(self, field: str, value: Any, allowed: Iterable[Any] | str) -> None:
        super().__init__(not_allowed(field, value, allowed))
        self.field = field
        self.value = value


class QuantShapeError(QuantizationError):
    """A tensor shape does not fit the requested packing or grouping."""


class CalibrationError(QuantizationError):
    """Calibration data is missing, empty or inconsistent."""


def check_choice(field: str, value: Any, allowed: Iterable[Any]) -> None:
    """Raise :class:`QuantConfigError` unless ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise QuantConfigError(field, value, allowed)


def check_range(
    field: str, value: float, low: float | None = None, high: float | None = None
) -> None:
    """Raise :class:`QuantConfigError` unless ``low <= value <= high`` (open ends allowed)."""
    if (low is not None and value < low) or (high is not None and value > high):
        raise QuantConfigError(field, value, f"[{low}, {high}]")
