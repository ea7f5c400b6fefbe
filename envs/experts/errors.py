"""Exceptions raised by the scripted experts.

All of them subclass :class:`core.errors.VeccError` (a :class:`ValueError`) so callers
that validate user input with ``except ValueError`` keep working.
"""

from __future__ import annotations

from core.errors import VeccError, not_allowed


class ExpertError(VeccError):
    """Base class for errors raised by :mod:`envs.experts`."""


class ExpertConfigError(ExpertError):
    """A field of :class:`envs.experts.config.ExpertConfig` has a bad value."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(not_allowed(f"ExpertConfig.{field}", value, allowed))
        self.field = field
        self.value = value
        self.allowed = allowed


class UnsupportedPredicateError(ExpertError):
    """A goal predicate has no skill that can achieve it."""

    def __init__(self, predicate: tuple, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"goal predicate {predicate!r} has no scripted skill; "
            f"supported predicate names: {', '.join(allowed)}"
        )
        self.predicate = predicate
        self.allowed = allowed


class SceneLookupError(ExpertError):
    """The privileged scene state lacks an object or fixture a skill needs."""

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        super().__init__(
            f"privileged state has no {kind} named {name!r}; available: {', '.join(sorted(available))}"
        )
        self.kind = kind
        self.name = name
        self.available = available
