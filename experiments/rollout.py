"""One closed-loop episode: reset to a fixed init state, let the actor act until success or the limit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from experiments.results import EpisodeRecord
from experiments.timeline import DecisionTimeline


class Actor(Protocol):
    """Anything that acts in an episode: a scripted expert, a VLA policy behind a runtime.

    ``act`` may set ``last_latency_ms`` (name -> ms) to report a latency breakdown for the step.
    """

    def reset(self, env: Any) -> None: ...

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray: ...


def run_episode(
    env: Any,
    actor: Actor,
    *,
    suite: str,
    task: str,
    init_state: int,
    seed: int,
    num_wait_steps: int = 0,
    video_path: str | Path | None = None,
    video_fps: int = 20,
) -> EpisodeRecord:
    """Run one episode and return its record.

    ``num_wait_steps`` no-op steps follow the reset (the OpenVLA/openpi LIBERO convention: objects settle)
    and do not count towards the episode limit or the step count. Latencies are recorded per control step in ms.
    """
    wall_start = time.perf_counter()
    obs, info = env.reset(seed=seed, options={"init_state": init_state})
    noop = np.zeros(env.action_space.shape, dtype=np.float32)
    noop[-1] = -1.0  # keep the gripper open while waiting
    for _ in range(num_wait_steps):
        obs, _, _, _, info = env.step(noop)
    actor.reset(env)
    timeline = DecisionTimeline(actor)
    frames: list[np.ndarray] = []
    latencies: dict[str, list[float]] = {"policy_ms": [], "env_ms": []}
    steps = 0
    success = False
    terminated = truncated = False
    while not (terminated or truncated):
        t0 = time.perf_counter()
        action = actor.act(obs, info)
        t1 = time.perf_counter()
        obs, _, terminated, truncated, info = env.step(action)
        t2 = time.perf_counter()
        latencies["policy_ms"].append((t1 - t0) * 1e3)
        latencies["env_ms"].append((t2 - t1) * 1e3)
        step_latency = getattr(actor, "last_latency_ms", None) or {}
        for name, value in step_latency.items():
            latencies.setdefault(name, []).append(float(value))
        timeline.after_step(steps, step_latency)
        if video_path is not None and "agentview_rgb" in obs:
            frames.append(obs["agentview_rgb"])
        steps += 1
        success = bool(info.get("is_success", False))
    if video_path is not None and frames:
        import imageio.v2 as imageio

        Path(video_path).parent.mkdir(parents=True, exist_ok=True)
        imageio.mimwrite(str(video_path), frames, fps=video_fps, macro_block_size=1)
    stats = getattr(actor, "episode_stats", None)
    extra = stats() if callable(stats) else {}
    decisions = timeline.as_dict()
    if decisions:  # cut / precision / bandwidth per inference, for the aggregation plots
        extra["timeline"] = decisions
    return EpisodeRecord(
        suite=suite,
        task=task,
        init_state=init_state,
        seed=seed,
        success=success,
        steps=steps,
        sim_time_s=float(info.get("sim_time", float("nan"))),
        wall_time_s=time.perf_counter() - wall_start,
        language=str(info.get("language", "")),
        step_latency_ms=latencies,
        extra=extra,
    )
