"""Runtimes: how an inference's latency reaches the world.

``SimulatedRuntime`` runs the acting policy in-process and charges each inference the latency of the
configured deployment (``LatencySource``), in ``blocking`` or ``realtime`` world-time mode.
"""

from ecc.runtime.latency import ConstantLatency, InferenceTiming, LatencySource, MeasuredLatency
from ecc.runtime.simulated import SimulatedRuntime, WorldTimeMode

__all__ = [
    "ConstantLatency",
    "InferenceTiming",
    "LatencySource",
    "MeasuredLatency",
    "SimulatedRuntime",
    "WorldTimeMode",
]
