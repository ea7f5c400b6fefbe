"""Runtimes: how an inference's latency reaches the world, and the typed records they publish.

``SimulatedRuntime`` runs the acting policy in-process and charges each inference the latency of the
configured deployment (``LatencySource``), in ``blocking`` or ``realtime`` world-time mode. What one
inference cost (``InferenceTiming``), what one control step did (``StepEvent``) and what an episode
was (``EpisodeRecord``, ``EpisodeSummary``) are dataclasses (``ecc.runtime.records``) published to
``Subscriber``s; an arriving chunk merges with the queue by a named ``ecc.runtime.merge`` function.
"""

from ecc.runtime.latency import ConstantLatency, LatencySource, MeasuredLatency
from ecc.runtime.merge import CHUNK_MERGES, chunk_merge
from ecc.runtime.records import (
    ActionSource,
    EpisodeRecord,
    EpisodeStart,
    EpisodeSummary,
    InferenceTiming,
    StepEvent,
    latency_stats,
)
from ecc.runtime.simulated import SimulatedRuntime, WorldTimeMode
from ecc.runtime.subscribers import Publisher, Subscriber, SubscriberBase

__all__ = [
    "CHUNK_MERGES",
    "ActionSource",
    "ConstantLatency",
    "EpisodeRecord",
    "EpisodeStart",
    "EpisodeSummary",
    "InferenceTiming",
    "LatencySource",
    "MeasuredLatency",
    "Publisher",
    "SimulatedRuntime",
    "StepEvent",
    "Subscriber",
    "SubscriberBase",
    "WorldTimeMode",
    "chunk_merge",
    "latency_stats",
]
