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

from envs.quiet_logs import quiet_third_party_logs

quiet_third_party_logs()  # before the first robosuite import below (envs.make -> robosuite)

from envs.errors import EnvConfigError, TaskSpecError  # noqa: E402
from envs.make import episode_limit, get_task, list_suites, list_tasks, make_env  # noqa: E402
from envs.perturb import PERTURBATION_LEVELS  # noqa: E402
from envs.registration import register_all  # noqa: E402
from envs.spec import TaskSpec  # noqa: E402

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
