"""Scripted-expert rollouts reduced to their kinematic stream, and a latency-free trigger replay.

The stream of one episode is the env info of every control step (500 Hz joint velocity and torque
histories, [25, 7] float32 each). ``replay_trigger`` feeds it to a scheduler with an idealised chunk
queue (every inference returns at once with ``chunk_len`` actions), which isolates *when the trigger
asks for an inference* from latency effects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecc.schedulers import Scheduler, StepContext
from experiments.rapid.errors import RapidExperimentError

log = logging.getLogger(__name__)

KINEMATIC_KEYS: tuple[str, ...] = ("joint_vel_history", "joint_torque_history")

# The paper's three task categories; ours adds the ones our suites have beyond them.
TASK_TYPES: tuple[str, ...] = ("pick_place", "drawer", "button", "push", "long")


def task_type(suite: str, task: str) -> str:
    """Task category of a suite task (``pick_place``, ``drawer``, ``button``, ``push``, ``long``)."""
    if suite == "long":
        return "long"
    if "drawer" in task and not task.startswith("put_"):
        return "drawer"
    if task.startswith("turn_on"):
        return "button"
    if task.startswith("push"):
        return "push"
    return "pick_place"


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
    def task_type(self) -> str:
        return task_type(self.suite, self.task)

    @property
    def steps(self) -> int:
        return len(self.infos)


def _kinematic(info: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(info[k], dtype=np.float32).copy() for k in KINEMATIC_KEYS if k in info}


def check_tasks(suite: str, tasks: Iterable[str] | None) -> list[str]:
    """The suite's tasks (all when ``tasks`` is None); raises on unknown names."""
    import envs

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
    os.environ.setdefault("MUJOCO_GL", "egl")
    import envs
    from experiments.actors import ScriptedExpertActor

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


@dataclass
class ReplayResult:
    """What a trigger did over one kinematic stream (idealised zero-latency chunk queue)."""

    steps: int
    inferences: int
    preemptions: int
    redundant_fraction: float
    trace: list[dict[str, Any]]


def replay_trigger(
    scheduler: Scheduler, infos: list[dict[str, Any]], chunk_len: int = 8
) -> ReplayResult:
    """Run ``scheduler`` over a stream with an instant chunk queue of ``chunk_len`` actions.

    A step is redundant when the scheduler neither infers nor preempts (it plays the cached chunk).
    """
    if isinstance(chunk_len, bool) or not isinstance(chunk_len, int) or chunk_len <= 0:
        raise RapidExperimentError("chunk_len", chunk_len, "a positive integer (actions per chunk)")
    scheduler.reset()
    queue = 0
    last_request = -(10**9)
    have_chunk = 0
    inferences = preemptions = 0
    for step, info in enumerate(infos):
        ctx = StepContext(
            step=step,
            queue_len=queue,
            chunk_len=have_chunk,
            steps_since_request=step - last_request,
            pending=False,
            obs={},
            info=info,
        )
        d = scheduler.decide(ctx)
        if d.preempt:
            preemptions += 1
            queue = 0
        if d.infer:
            inferences += 1
            queue = chunk_len
            have_chunk = chunk_len
            last_request = step
        queue = max(queue - 1, 0)  # this step's action
    trace = list(getattr(scheduler, "trace", []))
    red = getattr(scheduler, "redundant_fraction", None)
    fraction = float(red()) if callable(red) else float("nan")
    return ReplayResult(len(infos), inferences, preemptions, fraction, trace)


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
