"""Subscribers to an evaluation's episodes, as openpi-client's runtime has them.

The rollout publishes, in this order, ``on_episode_start`` once, ``on_step`` after every control
step, and ``on_episode_end`` with the finished record, to each subscriber in list order. The results
writer, the experiment logger and the decision timeline are subscribers: they read the typed records
(``ecc.runtime.records``), never an actor's attributes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from ecc.runtime.records import EpisodeRecord, EpisodeStart, StepEvent


@runtime_checkable
class Subscriber(Protocol):
    """Receives one run's episodes; every hook is called for every episode."""

    def on_episode_start(self, start: EpisodeStart) -> None: ...

    def on_step(self, event: StepEvent) -> None: ...

    def on_episode_end(self, record: EpisodeRecord) -> None: ...


class SubscriberBase:
    """No-op hooks, so a subscriber implements only the ones it needs."""

    def on_episode_start(self, start: EpisodeStart) -> None:
        pass

    def on_step(self, event: StepEvent) -> None:
        pass

    def on_episode_end(self, record: EpisodeRecord) -> None:
        pass


class Publisher:
    """Calls every subscriber's hook in list order (the first subscriber sees each event first)."""

    def __init__(self, subscribers: Iterable[Subscriber] = ()) -> None:
        self.subscribers: list[Subscriber] = list(subscribers)
        for s in self.subscribers:
            if not isinstance(s, Subscriber):
                raise TypeError(
                    f"subscriber {type(s).__name__} lacks on_episode_start/on_step/on_episode_end"
                )

    def episode_start(self, start: EpisodeStart) -> None:
        for s in self.subscribers:
            s.on_episode_start(start)

    def step(self, event: StepEvent) -> None:
        for s in self.subscribers:
            s.on_step(event)

    def episode_end(self, record: EpisodeRecord) -> None:
        for s in self.subscribers:
            s.on_episode_end(record)
