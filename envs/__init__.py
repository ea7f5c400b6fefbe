"""LIBERO-like MuJoCo task suites as gymnasium environments.

Public API::

    envs.make_env(suite, task, image_size=128, perturbation="standard", render=True, seed=None)
    envs.list_suites(), envs.list_tasks(suite), envs.get_task(suite, task), envs.episode_limit(suite)
    envs.PERTURBATION_LEVELS
    gymnasium.make("LiberoLike/object-milk_in_basket-v0")
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from envs.errors import EnvConfigError, TaskSpecError
from envs.make import episode_limit, get_task, list_suites, list_tasks, make_env
from envs.perturb import PERTURBATION_LEVELS
from envs.registration import register_all
from envs.spec import TaskSpec

register_all()

__all__ = [
    "PERTURBATION_LEVELS",
    "EnvConfigError",
    "TaskSpec",
    "TaskSpecError",
    "episode_limit",
    "get_task",
    "list_suites",
    "list_tasks",
    "make_env",
]
