"""Which side holds a tensor's latest copy: the one owner of the rule every transfer count uses.

A stage reading a tensor on a device that does not hold its latest version needs it sent there;
after a write only the writer holds it. ``agents.boundary.placement_transfers`` (real models),
``ecc.emulated.split_plan.plan_segments`` (segments of a split deployment) and
``ecc.cost.plan_transfers`` (the analytic trace) all apply it through :class:`Holders`.
Plain Python (no torch), so the cost model stays light to import.
"""

from __future__ import annotations

from collections.abc import Iterable


class Holders:
    """Which devices hold the latest version of each tensor (the rule of ``agents.staged``).

    A write leaves only the writer holding the tensor; a copy adds the receiver. Keys start on
    ``device`` (the inputs); a key never seen is held by no device.
    """

    def __init__(self, keys: Iterable[str] = (), device: str = "edge") -> None:
        self._held: dict[str, set[str]] = {k: {device} for k in keys}

    def hold(self, key: str, devices: Iterable[str]) -> None:
        """``key`` starts on every device of ``devices`` (inputs present on both sides)."""
        self._held[key] = set(devices)

    def has(self, key: str, device: str) -> bool:
        """``device`` holds the latest version of ``key``."""
        return device in self._held.get(key, ())

    def only(self, key: str, device: str) -> bool:
        """``device`` is the one holder of ``key`` (the others' copies are stale)."""
        return self._held.get(key) == {device}

    def source(self, key: str) -> str:
        """The device a copy of ``key`` is taken from (the first holder by name)."""
        return sorted(self._held[key])[0]

    def copy(self, key: str, device: str) -> None:
        """``key`` was sent to ``device``: it holds the latest version too."""
        self._held.setdefault(key, set()).add(device)

    def write(self, key: str, device: str) -> None:
        """``device`` wrote ``key``: every other copy is now stale."""
        self._held[key] = {device}
