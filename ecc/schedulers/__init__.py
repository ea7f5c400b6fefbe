"""Inference schedulers (Hydra group ``scheduler``): when to infer, when to preempt, where to run."""

from ecc.schedulers.base import PLAY, Decision, Scheduler, SchedulerBase, StepContext
from ecc.schedulers.rapid import KinematicSignals, RapidTrigger
from ecc.schedulers.simple import EveryStep, QueueThreshold, ReplanEveryN
from ecc.schedulers.uncertainty import EntropyTrigger, FailureScoreTrigger

__all__ = [
    "PLAY",
    "Decision",
    "EntropyTrigger",
    "EveryStep",
    "FailureScoreTrigger",
    "KinematicSignals",
    "QueueThreshold",
    "RapidTrigger",
    "ReplanEveryN",
    "Scheduler",
    "SchedulerBase",
    "StepContext",
]
