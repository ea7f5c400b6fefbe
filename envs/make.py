"""``make_env`` and the suite/task lookups: validate everything at start-up."""

from __future__ import annotations

import gymnasium as gym

from envs.errors import EnvConfigError
from envs.gym_env import LiberoLikeEnv
from envs.perturb import PERTURBATION_LEVELS, wrap_perturbation
from envs.render import ROBOT_VISUALS
from envs.spec import TaskSpec
from envs.suites import EPISODE_LIMITS, SUITES


def list_suites() -> list[str]:
    return list(SUITES)


def _check_suite(suite: object) -> str:
    if suite not in SUITES:
        raise EnvConfigError("suite", suite, list(SUITES))
    return str(suite)


def list_tasks(suite: str) -> list[str]:
    return list(SUITES[_check_suite(suite)])


def get_task(suite: str, task: str) -> TaskSpec:
    tasks = SUITES[_check_suite(suite)]
    if task not in tasks:
        raise EnvConfigError("task", task, list(tasks))
    return tasks[task]


def episode_limit(suite: str) -> int:
    """Control steps per episode in LIBERO-style evaluation (20 Hz steps)."""
    return EPISODE_LIMITS[_check_suite(suite)]


def make_env(
    suite: str,
    task: str,
    *,
    image_size: int = 128,
    perturbation: str = "standard",
    render: bool = True,
    seed: int | None = None,
    max_episode_steps: int | None = None,
    **kw,
) -> gym.Env:
    """Build one task's environment.

    Args:
        suite, task: see ``list_suites()`` / ``list_tasks(suite)``.
        image_size: camera height = width in pixels (> 0).
        perturbation: one of ``PERTURBATION_LEVELS``.
        render: False skips cameras (image keys leave the observation space).
        seed: used by the first ``reset()`` that passes no seed.
        max_episode_steps: control steps before truncation; default ``episode_limit(suite)``.
        **kw: ``robot_visuals`` ("collision" | "mesh"), ``render_options`` (dict of
            shadows/reflections/multisample booleans), ``render_mode``, ``init_states``,
            ``tolerances`` (PredicateTolerances).
    """
    spec = get_task(suite, task)
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0:
        raise EnvConfigError("image_size", image_size, "a positive integer (pixels), e.g. 128")
    if perturbation not in PERTURBATION_LEVELS:
        raise EnvConfigError("perturbation", perturbation, PERTURBATION_LEVELS)
    if not isinstance(render, bool):
        raise EnvConfigError("render", render, [True, False])
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise EnvConfigError("seed", seed, "None or a non-negative integer")
    if max_episode_steps is not None and (
        isinstance(max_episode_steps, bool)
        or not isinstance(max_episode_steps, int)
        or max_episode_steps <= 0
    ):
        raise EnvConfigError("max_episode_steps", max_episode_steps, "None or a positive integer")
    allowed_kw = {"robot_visuals", "render_mode", "init_states", "tolerances", "render_options"}
    for k in kw:
        if k not in allowed_kw:
            raise EnvConfigError("keyword argument", k, sorted(allowed_kw))
    if kw.get("robot_visuals", "collision") not in ROBOT_VISUALS:
        raise EnvConfigError("robot_visuals", kw["robot_visuals"], ROBOT_VISUALS)
    n_distractors = 3 if perturbation == "interference" else 0
    env = LiberoLikeEnv(
        spec,
        max_episode_steps or episode_limit(suite),
        image_size=image_size,
        render=render,
        n_distractors=n_distractors,
        seed=seed,
        **kw,
    )
    return wrap_perturbation(env, perturbation)
