"""Exceptions raised by the envs package."""

from __future__ import annotations

from collections.abc import Iterable


class EnvConfigError(ValueError):
    """A bad argument to an environment constructor or reset (suite, task, level, size...)."""

    def __init__(self, field: str, value: object, allowed: Iterable[object] | str) -> None:
        if isinstance(allowed, str):
            allowed_text = allowed
        else:
            allowed_text = ", ".join(repr(a) for a in allowed)
        super().__init__(f"invalid {field}={value!r}; allowed: {allowed_text}")
        self.field = field
        self.value = value


class TaskSpecError(ValueError):
    """A task declaration that is internally inconsistent (unknown object, region or predicate)."""
