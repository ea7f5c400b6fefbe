"""Scripted-expert rollouts reduced to their kinematic stream (a data tool, not an evaluation).

The stream of one episode is the env info of every control step (500 Hz joint velocity and torque
histories, [25, 7] float32 each): what ``ecc.schedulers.replay_trigger`` feeds a trigger, latency
free. The expert acts on privileged state with rendering off; a main-job run reports no per-step
env info, which is the product here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import envs
from experiments.actors import ScriptedExpertActor
from experiments.rapid.errors import RapidExperimentError

log = logging.getLogger(__name__)

KINEMATIC_KEYS: tuple[str, ...] = ("joint_vel_history", "joint_torque_history")


@dataclass
class KinematicEpisode:
    """One expert episode's kinematic stream (``infos[k]``: the info the scheduler sees at step k)."""

    suite: str
    task: str
    init_state: int
    seed: int
    success: bool
    infos: list[dict[str, np.ndarray]] = field(default_factory=list)

    @property
    def category(self) -> str:
        """The task's category (``envs.spec.TASK_CATEGORIES``), as its suite defines it."""
        return envs.get_task(self.suite, self.task).category

    @property
    def steps(self) -> int:
        return len(self.infos)


def _kinematic(info: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(info[k], dtype=np.float32).copy() for k in KINEMATIC_KEYS if k in info}


def check_tasks(suite: str, tasks: Iterable[str] | None) -> list[str]:
    """The suite's tasks (all when ``tasks`` is None); raises on unknown names."""
    if suite not in envs.list_suites():
        raise RapidExperimentError("suite", suite, envs.list_suites())
    allowed = envs.list_tasks(suite)
    chosen = list(allowed) if not tasks else list(tasks)
    for t in chosen:
        if t not in allowed:
            raise RapidExperimentError("task", t, allowed)
    return chosen


def collect_expert_episodes(
    suite: str,
    tasks: Iterable[str] | None,
    episodes: int,
    seed: int = 0,
    max_episode_steps: int | None = None,
    progress: bool = True,
) -> list[KinematicEpisode]:
    """Roll the scripted expert (no rendering) over init states ``0..episodes-1`` of each task.

    Episode k of a task uses seed ``seed + k``. Returns the kinematic stream of every episode.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes <= 0:
        raise RapidExperimentError(
            "episodes", episodes, "a positive integer (init states per task)"
        )
    chosen = check_tasks(suite, tasks)
    out: list[KinematicEpisode] = []
    bar = _bar(len(chosen) * episodes, "expert episodes", progress)
    for task in chosen:
        env = envs.make_env(suite, task, render=False, max_episode_steps=max_episode_steps)
        try:
            actor = ScriptedExpertActor()
            for k in range(episodes):
                obs, info = env.reset(seed=seed + k, options={"init_state": k})
                actor.reset(env)
                ep = KinematicEpisode(suite, task, k, seed + k, False, [_kinematic(info)])
                done = False
                while not done:
                    obs, _, term, trunc, info = env.step(actor.act(obs, info))
                    done = term or trunc
                    if not done:  # the info after the last step is never seen by a scheduler
                        ep.infos.append(_kinematic(info))
                ep.success = bool(info.get("is_success", False))
                out.append(ep)
                bar.update(1)
                bar.set_postfix_str(f"{task} #{k} {'ok' if ep.success else 'fail'}")
        finally:
            env.close()
    bar.close()
    return out


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="ep", file=sys.stderr)
