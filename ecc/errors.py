"""Exceptions of the ecc core (traces, cost model, hardware, network, planners).

Every user-input error is a :class:`core.errors.VeccError` (a ``ValueError``) whose message names
the field, the bad value and the allowed values, so a researcher can fix a Hydra override without
reading code.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import VeccError, not_allowed


class EccError(VeccError):
    """Base class of every bad-input error raised by the ecc core."""


class UnknownNameError(EccError, KeyError):
    """A name (architecture, hardware profile, link preset, planner, stage) is not known."""

    def __init__(self, field: str, value: object, allowed: Iterable[object]) -> None:
        self.field, self.value, self.allowed = field, value, tuple(allowed)
        super().__init__(not_allowed(field, value, ", ".join(map(str, self.allowed))))

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class InvalidValueError(EccError):
    """A numeric or enumerated field is out of its allowed range."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(not_allowed(field, value, allowed))


class InfeasiblePlanError(EccError):
    """No cut satisfies the memory / cloud-load budgets."""


def check_positive(field: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``value`` or raise :class:`InvalidValueError` if it is not (strictly) positive."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok or value != value:  # NaN fails both comparisons
        raise InvalidValueError(field, value, ">= 0" if allow_zero else "> 0")
    return value


def check_choice(field: str, value: object, allowed: Iterable[object]) -> object:
    """Return ``value`` or raise :class:`UnknownNameError` if it is not one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise UnknownNameError(field, value, allowed)
    return value
