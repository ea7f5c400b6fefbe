"""Exceptions of the links package."""

from __future__ import annotations

from core.errors import VeccError, not_allowed


class LinkError(VeccError):
    """Base class of everything the links package raises (a ``ValueError`` via ``VeccError``)."""


class LinkConfigError(LinkError, ValueError):
    """A link parameter is invalid; the message names the field, value and allowed range."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(not_allowed(field, value, allowed))
        self.field = field
        self.value = value
        self.allowed = allowed


class LinkUnavailable(LinkError, RuntimeError):
    """This link kind cannot run here (not root, kernel lacks a qdisc, ...); says why."""
