"""Bridges from environments to what the expert reads: a :class:`Scene` and a goal."""

from __future__ import annotations

from collections.abc import Callable

from envs.experts.errors import ExpertError
from envs.experts.privileged import PrivilegedSceneReader
from envs.experts.robosuite_scene import scene_from_robosuite
from envs.experts.scene import Scene


def default_scene_fn(env: object) -> Callable[[object], Scene]:
    """Pick the scene builder for ``env``: this project's suites or a stock robosuite env."""
    inner = getattr(env, "unwrapped", env)
    if hasattr(inner, "privileged_state"):
        return PrivilegedSceneReader()
    if hasattr(inner, "sim") and hasattr(inner, "robots"):
        return lambda e: scene_from_robosuite(getattr(e, "unwrapped", e))
    raise ExpertError(
        f"cannot read privileged state from {type(inner).__name__}: it has neither "
        "privileged_state() nor a robosuite sim"
    )


def task_goal(env: object) -> tuple[tuple[str, ...], ...]:
    """Goal predicates of the task ``env`` runs (from its TaskSpec)."""
    inner = getattr(env, "unwrapped", env)
    for attr in ("task_spec", "task", "spec_task"):
        spec = getattr(inner, attr, None)
        goal = getattr(spec, "goal", None)
        if goal:
            return tuple(tuple(p) for p in goal)
    raise ExpertError(
        f"{type(inner).__name__} exposes no task goal (looked for .task_spec.goal); "
        "pass goal= to ScriptedExpert.reset"
    )
