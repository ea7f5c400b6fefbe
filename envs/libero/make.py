"""``make_libero_env`` and gymnasium registration of the rebuilt LIBERO tasks."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym

from envs.errors import EnvConfigError
from envs.libero import files
from envs.libero.bddl import load_problem
from envs.libero.scene import EPISODE_LIMITS, build_problems, gym_id, load_scene

_ALLOWED_KW = ("robot_visuals", "render_mode", "tolerances", "render_options")


def make_libero_env(
    suite: str,
    task: str,
    *,
    image_size: int = 128,
    render: bool = True,
    seed: int | None = None,
    max_episode_steps: int | None = None,
    root: str | None = None,
    **kw,
) -> gym.Env:
    """One LIBERO task (``files.task_names(suite)``) on our stack; see ``LiberoEnv``."""
    from envs.libero.gym_env import LiberoEnv  # robosuite import only when an env is built

    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0:
        raise EnvConfigError("image_size", image_size, "a positive integer (pixels), e.g. 128")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise EnvConfigError("seed", seed, "None or a non-negative integer")
    if max_episode_steps is not None and (
        isinstance(max_episode_steps, bool)
        or not isinstance(max_episode_steps, int)
        or max_episode_steps <= 0
    ):
        raise EnvConfigError("max_episode_steps", max_episode_steps, "None or a positive integer")
    for k in kw:
        if k not in _ALLOWED_KW:
            raise EnvConfigError("keyword argument", k, _ALLOWED_KW)
    scene = load_scene(suite, task, root)
    return LiberoEnv(
        scene,
        max_episode_steps or EPISODE_LIMITS[suite],
        image_size=image_size,
        render=render,
        seed=seed,
        **kw,
    )


def buildable_tasks(suite: str, root: str | None = None) -> list[str]:
    """Tasks of a suite whose BDDL our asset library can build today."""
    return [
        t
        for t in files.task_names(suite, root)
        if not build_problems(load_problem(files.bddl_path(suite, t, root)))
    ]


def register_libero() -> list[str]:
    """Register ``LIBERO/<suite>-<task>-v0`` for every buildable vendored task, and for
    libero_90 too when ``$LIBERO_BDDL_ROOT`` names LIBERO's bddl_files folder."""
    ids = []
    suites: list[tuple[str, str | None]] = [(s, None) for s in files.VENDORED_SUITES]
    root = os.environ.get(files.ROOT_ENV)
    if root and (Path(root) / "libero_90").is_dir():
        suites.append(("libero_90", root))
    for suite, r in suites:
        for task in buildable_tasks(suite, r):
            env_id = gym_id(suite, task)
            if env_id not in gym.registry:
                kwargs = {"suite": suite, "task": task} | ({"root": r} if r else {})
                gym.register(
                    id=env_id, entry_point="envs.libero.make:make_libero_env", kwargs=kwargs
                )
            ids.append(env_id)
    return ids
