"""Scripted experts that read privileged simulator state to produce demonstrations.

The public entry point is :class:`ScriptedExpert`; :class:`ExpertConfig` holds its
parameters. See :mod:`envs.experts.planner` for the predicate -> skill mapping.
"""

from envs.experts.config import ExpertConfig
from envs.experts.errors import (
    ExpertConfigError,
    ExpertError,
    SceneLookupError,
    UnsupportedPredicateError,
)
from envs.experts.expert import ScriptedExpert
from envs.experts.scene import Body, Scene

__all__ = [
    "Body",
    "ExpertConfig",
    "ExpertConfigError",
    "ExpertError",
    "Scene",
    "SceneLookupError",
    "ScriptedExpert",
    "UnsupportedPredicateError",
]
