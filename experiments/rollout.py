"""One closed-loop episode: reset to a fixed init state, let the actor act until success or the limit.

Each control step becomes a typed ``StepEvent`` (``ecc.runtime.records``) published to the episode's
subscribers; the finished ``EpisodeRecord`` is published to them last. The rollout's own collectors
(per-step latencies, the decision timeline) subscribe first, so the record is complete when the
caller's subscribers (results writer, logger) receive it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from ecc.runtime.records import (
    ActionSource,
    EpisodeRecord,
    EpisodeStart,
    InferenceTiming,
    StepEvent,
)
from ecc.runtime.subscribers import Publisher, Subscriber, SubscriberBase
from experiments.timeline import DecisionTimeline


class Actor(Protocol):
    """Anything that acts in an episode: a scripted expert, a VLA policy behind a runtime.

    A runtime describes each step in ``last_step`` (a ``StepEvent``); other actors may set
    ``last_latency_ms`` (name -> ms) for the step instead.
    """

    def reset(self, env: gym.Env) -> None: ...

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray: ...


@runtime_checkable
class ReportsSteps(Protocol):
    """An actor (a runtime) that describes every step it acted as a typed event."""

    last_step: StepEvent | None


@runtime_checkable
class ReportsEpisodeStats(Protocol):
    """An actor with per-episode counters for the result row (JSON-ready)."""

    def episode_stats(self) -> dict[str, Any]: ...


class StepLatencies(SubscriberBase):
    """Per-step durations (name -> ms per step) and the episode's inferences, from step events."""

    def __init__(self) -> None:
        self.latency_ms: dict[str, list[float]] = {"policy_ms": [], "env_ms": []}
        self.inferences: list[InferenceTiming] = []

    def on_step(self, event: StepEvent) -> None:
        for name, value in event.latency_ms().items():
            self.latency_ms.setdefault(name, []).append(value)
        if event.inference is not None:
            self.inferences.append(event.inference)


def step_event(
    actor: Actor, step: int, world_time_s: float, policy_ms: float, env_ms: float
) -> StepEvent:
    """The actor's account of step ``step`` with the rollout's wall times (ms) filled in."""
    if isinstance(actor, ReportsSteps) and actor.last_step is not None:
        return replace(actor.last_step, policy_ms=policy_ms, env_ms=env_ms)
    other = getattr(actor, "last_latency_ms", None) or {}
    return StepEvent(
        step=step,
        world_time_s=world_time_s,
        action_source=ActionSource.DIRECT,
        policy_ms=policy_ms,
        env_ms=env_ms,
        other_ms={str(k): float(v) for k, v in other.items()},
    )


def run_episode(
    env: gym.Env,
    actor: Actor,
    *,
    suite: str,
    task: str,
    init_state: int,
    seed: int,
    num_wait_steps: int = 0,
    video_path: str | Path | None = None,
    video_fps: int = 20,
    subscribers: Sequence[Subscriber] = (),
    index: int = 0,
) -> EpisodeRecord:
    """Run one episode, publish it to ``subscribers`` (in order) and return its record.

    ``num_wait_steps`` no-op steps follow the reset (the OpenVLA/openpi LIBERO convention: objects settle)
    and do not count towards the episode limit or the step count. Latencies are recorded per control
    step in ms. ``index`` numbers the episode within the run (loggers key their rows by it).
    """
    wall_start = time.perf_counter()
    obs, info = env.reset(seed=seed, options={"init_state": init_state})
    noop = np.zeros(env.action_space.shape, dtype=np.float32)
    noop[-1] = -1.0  # keep the gripper open while waiting
    for _ in range(num_wait_steps):
        obs, _, _, _, info = env.step(noop)
    actor.reset(env)
    latencies, timeline = StepLatencies(), DecisionTimeline()
    publish = Publisher([latencies, timeline, *subscribers])
    publish.episode_start(
        EpisodeStart(
            index=index, suite=suite, task=task, init_state=init_state, seed=seed,
            video_path=str(video_path) if video_path is not None else None,
        )
    )  # fmt: skip
    frames: list[np.ndarray] = []
    steps = 0
    success = False
    terminated = truncated = False
    while not (terminated or truncated):
        world_time_s = float(info.get("sim_time", math.nan))
        t0 = time.perf_counter()
        action = actor.act(obs, info)
        t1 = time.perf_counter()
        obs, _, terminated, truncated, info = env.step(action)
        t2 = time.perf_counter()
        publish.step(step_event(actor, steps, world_time_s, (t1 - t0) * 1e3, (t2 - t1) * 1e3))
        if video_path is not None and "agentview_rgb" in obs:
            frames.append(obs["agentview_rgb"])
        steps += 1
        success = bool(info.get("is_success", False))
    if video_path is not None and frames:
        import imageio.v2 as imageio

        Path(video_path).parent.mkdir(parents=True, exist_ok=True)
        imageio.mimwrite(str(video_path), frames, fps=video_fps, macro_block_size=1)
    extra = actor.episode_stats() if isinstance(actor, ReportsEpisodeStats) else {}
    decisions = timeline.as_dict()
    if decisions:  # cut / precision / bandwidth per inference, for the aggregation plots
        extra["timeline"] = decisions
    record = EpisodeRecord(
        suite=suite,
        task=task,
        init_state=init_state,
        seed=seed,
        success=success,
        steps=steps,
        sim_time_s=float(info.get("sim_time", float("nan"))),
        wall_time_s=time.perf_counter() - wall_start,
        language=str(info.get("language", "")),
        step_latency_ms=latencies.latency_ms,
        extra=extra,
        inferences=latencies.inferences,
    )
    publish.episode_end(record)
    return record
