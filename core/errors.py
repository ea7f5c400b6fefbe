"""The project's error root and its one message formatter.

Every package's errors derive from :class:`VeccError` (a ``ValueError``), so a caller that
validates a config can catch one type; messages name the field, the bad value and the
allowed values, formatted by :func:`not_allowed`.
"""

from __future__ import annotations

from collections.abc import Iterable


class VeccError(ValueError):
    """Root of every error raised by the project on bad input, bad files or bad frames."""


def not_allowed(field: str, value: object, allowed: Iterable[object] | str) -> str:
    """``"field=value is not allowed; allowed: a, b, c"``.

    ``value`` is shown with ``repr``; ``allowed`` is a description (a ``str``, shown as is)
    or the allowed values (each shown with ``repr``, comma-separated).
    """
    allowed_txt = allowed if isinstance(allowed, str) else ", ".join(map(repr, allowed))
    return f"{field}={value!r} is not allowed; allowed: {allowed_txt}"
