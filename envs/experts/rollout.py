"""Run the scripted expert for one episode on a gymnasium env and (optionally) record it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from envs.experts.expert import ScriptedExpert


@dataclass
class Episode:
    """One expert episode.

    Attributes:
        success: ``info["is_success"]`` at the last step.
        steps: control steps taken (20 Hz).
        wall_s: wall-clock duration (s).
        final_phase: the expert's phase at the end (``done``, ``failed:*`` or a primitive).
        obs: per-step observation dicts (before each action), when recorded.
        actions: (T, 7) clean action labels, when recorded.
        executed: (T, 7) actions actually sent to the env (labels + noise), when recorded.
        states: (T, D) flattened simulator states before each action, when recorded.
        rewards: (T,) rewards.
        dones: (T,) 1 at the last step, else 0.
    """

    success: bool
    steps: int
    wall_s: float
    final_phase: str
    obs: list[Mapping[str, np.ndarray]] = field(default_factory=list)
    actions: np.ndarray | None = None
    executed: np.ndarray | None = None
    states: np.ndarray | None = None
    rewards: np.ndarray | None = None
    dones: np.ndarray | None = None


def sim_state(env: object) -> np.ndarray:
    """Flattened MuJoCo state ``[qpos, qvel]`` (the layout of the suites' init states)."""
    inner = getattr(env, "unwrapped", env)
    data = getattr(inner, "data", None)
    if data is not None and hasattr(data, "qpos"):
        return np.concatenate([data.qpos, data.qvel]).astype(np.float64)
    sim = getattr(inner, "sim", None)
    if sim is not None and hasattr(sim, "data"):
        return np.concatenate([sim.data.qpos, sim.data.qvel]).astype(np.float64)
    raise AttributeError(f"{type(inner).__name__} exposes no simulator state")


def run_episode(
    env,
    expert: ScriptedExpert,
    *,
    seed: int,
    init_state: int,
    max_steps: int,
    record: bool = False,
    extra_steps_after_success: int = 0,
) -> Episode:
    """Reset ``env`` to ``init_state`` and let ``expert`` act until success or ``max_steps``.

    Args:
        env: gymnasium env of this project (5-tuple ``step``; ``info["is_success"]``).
        expert: the scripted expert (noise, if configured, is applied to executed actions).
        seed: ``env.reset`` seed.
        init_state: index of the fixed initial state (0..49).
        max_steps: episode limit (control steps).
        record: keep observations, labels, executed actions, states, rewards, dones.
        extra_steps_after_success: keep acting this many steps after success (settling).
    """
    t0 = time.perf_counter()
    obs, _ = env.reset(seed=seed, options={"init_state": init_state})
    expert.reset(env)
    keep_obs, labels, executed, states, rewards = [], [], [], [], []
    success, after = False, 0
    steps = 0
    for steps in range(1, max_steps + 1):  # noqa: B007  (steps is read after the loop)
        label = expert.act(obs)
        action = expert.perturb(label)
        if record:
            keep_obs.append(obs)
            labels.append(label)
            executed.append(action)
            states.append(sim_state(env))
        obs, reward, terminated, truncated, info = env.step(action)
        if record:
            rewards.append(float(reward))
        success = bool(info.get("is_success", False))
        if success:
            after += 1
            if after > extra_steps_after_success:
                break
        if truncated or (terminated and not success):
            break
    ep = Episode(
        success=success,
        steps=steps,
        wall_s=time.perf_counter() - t0,
        final_phase=expert.phase,
    )
    if record:
        n = len(labels)
        dones = np.zeros(n, dtype=np.int64)
        if n:
            dones[-1] = 1
        ep.obs = keep_obs
        ep.actions = np.asarray(labels, dtype=np.float32).reshape(n, 7)
        ep.executed = np.asarray(executed, dtype=np.float32).reshape(n, 7)
        ep.states = np.asarray(states, dtype=np.float64)
        ep.rewards = np.asarray(rewards, dtype=np.float32)
        ep.dones = dones
    return ep
