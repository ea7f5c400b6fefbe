"""Inference schedulers (Hydra group ``scheduler``): when to infer, when to preempt, where to run."""

from ecc.schedulers.base import PLAY, Decision, Scheduler, SchedulerBase, StepContext
from ecc.schedulers.rapid import KinematicSignals, RapidTrigger
from ecc.schedulers.rapid_calibration import (
    ThresholdCalibration,
    TriggerParams,
    calibrate_thresholds,
    importance_values,
    pooled_redundancy,
)
from ecc.schedulers.replay import ReplayResult, replay_trigger
from ecc.schedulers.safe import FailureCalibration
from ecc.schedulers.simple import EveryStep, QueueThreshold, ReplanEveryN
from ecc.schedulers.uncertainty import EntropyTrigger, FailureScoreTrigger

__all__ = [
    "PLAY",
    "Decision",
    "EntropyTrigger",
    "EveryStep",
    "FailureCalibration",
    "FailureScoreTrigger",
    "KinematicSignals",
    "QueueThreshold",
    "RapidTrigger",
    "ReplanEveryN",
    "ReplayResult",
    "Scheduler",
    "SchedulerBase",
    "StepContext",
    "ThresholdCalibration",
    "TriggerParams",
    "calibrate_thresholds",
    "importance_values",
    "pooled_redundancy",
    "replay_trigger",
]
