"""Exceptions raised by the envs package (all :class:`core.errors.VeccError`)."""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import VeccError, not_allowed


class EnvConfigError(VeccError):
    """A bad argument to an environment constructor or reset (suite, task, level, size...)."""

    def __init__(self, field: str, value: object, allowed: Iterable[object] | str) -> None:
        super().__init__(not_allowed(field, value, allowed))
        self.field = field
        self.value = value


class TaskSpecError(VeccError):
    """A task declaration that is internally inconsistent (unknown object, region or predicate)."""
