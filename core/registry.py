"""A named registry: the one way an extension (VLA family, planner, quantization method, trace
builder) makes itself known, and the one error a lookup of an unknown name raises.

Entries are added where they are defined (``REG.add(name, entry)`` or ``@REG.register(name)``);
a lookup of an unknown name raises :class:`UnknownEntryError` naming the config field, the value
and the registered names. ``resolve("pkg.module:attr")`` turns a dotted path (Hydra's
``_target_`` style) into the object, so a registry in a lower layer can name a class defined in
a module that itself imports the registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from core.errors import VeccError, not_allowed

T = TypeVar("T")


class UnknownEntryError(VeccError, KeyError):
    """A name that no entry of the registry carries."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateEntryError(VeccError):
    """A second, different entry under a name that is taken."""


class Registry(Generic[T]):
    """Entries by name, in registration order.

    ``kind`` names the entries in messages (``"planner"``); ``field`` is the config field a
    user sets to pick one (``"partition.planner"``), so an unknown name reads as a config error.
    """

    def __init__(self, kind: str, field: str) -> None:
        self.kind = kind
        self.field = field
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Register ``entry`` under ``name``; re-adding the same object is a no-op."""
        if not isinstance(name, str) or not name:
            raise DuplicateEntryError(not_allowed(f"{self.kind} name", name, "a non-empty str"))
        old = self._entries.get(name)
        if old is not None and old is not entry and not replace:
            raise DuplicateEntryError(
                f"{self.kind} {name!r} is already registered ({old!r}); "
                "pass replace=True to override it"
            )
        self._entries[name] = entry
        return entry

    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(entry: T) -> T:
            return self.add(name, entry, replace=replace)

        return deco

    def remove(self, name: str) -> T:
        """Take an entry out (a test's temporary plug-in); raises if it is not there."""
        entry = self.get(name)
        del self._entries[name]
        return entry

    def get(self, name: str) -> T:
        """The entry named ``name``; :class:`UnknownEntryError` lists the registered names."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownEntryError(not_allowed(self.field, name, tuple(self._entries))) from None

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"


def resolve(target: Any) -> Any:
    """``"pkg.module:attr"`` (or ``"pkg.module.attr"``) -> the object; anything else as is."""
    if not isinstance(target, str):
        return target
    module, sep, attr = target.partition(":")
    if not sep:
        module, _, attr = target.rpartition(".")
    if not module or not attr:
        raise VeccError(not_allowed("target", target, "'pkg.module:attr'"))
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
