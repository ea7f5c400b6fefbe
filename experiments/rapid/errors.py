"""Errors raised on bad user input to the RAPID measurement commands."""

from __future__ import annotations

from typing import Any

from core.errors import VeccError, not_allowed


class RapidExperimentError(VeccError):
    """A bad argument: names the field, the bad value and what is allowed."""

    def __init__(self, field: str, value: Any, allowed: Any) -> None:
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(not_allowed(field, value, str(allowed)))  # str(): as before, not repr
