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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from ecc.errors import InvalidValueError
from ecc.runtime.records import (
    ActionSource,
    EpisodeRecord,
    EpisodeStart,
    InferenceTiming,
    StepEvent,
    TimeAwareOutcome,
)
from ecc.runtime.subscribers import Publisher, Subscriber, SubscriberBase
from experiments.timeline import DecisionTimeline
from experiments.video import VideoRecorder


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


BUDGETS = ("world_steps", "executed_actions")


@dataclass(frozen=True)
class StepBudget:
    """When an episode ends besides success.

    ``world_steps``: after ``limit`` control steps of world time (today's protocol; in realtime
    mode LIBERO's limit becomes a deadline of ``limit * control_dt_s`` s). ``executed_actions``:
    after ``limit`` actions that moved the robot (hold steps do not count: LIBERO's limit as it
    is meant, the world paused during inference), or ``world_cap_steps`` control steps of world
    time, whichever comes first. ``control_dt_s`` is one control step (s).
    """

    kind: str
    limit: int
    control_dt_s: float
    world_cap_steps: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in BUDGETS:
            raise InvalidValueError("eval.budget", self.kind, ", ".join(BUDGETS))
        if self.kind == "executed_actions" and (
            self.world_cap_steps is None or self.world_cap_steps < self.limit
        ):
            raise InvalidValueError(
                "eval.max_world_s", self.world_cap_steps, f">= the limit ({self.limit} steps)"
            )

    @property
    def world_cap_s(self) -> float | None:
        """The world-time cap (s) of the executed-action budget (None: world-step budget)."""
        return None if self.world_cap_steps is None else self.world_cap_steps * self.control_dt_s


def outcome(
    budget: StepBudget,
    success: bool,
    steps: int,
    executed: int,
    steps_to_success: int | None,
    stats: dict[str, Any],
) -> TimeAwareOutcome:
    """The episode under both budgets from the rollout to ``budget`` (see ``TimeAwareOutcome``)."""
    in_world = success and steps_to_success is not None and steps_to_success <= budget.limit
    executed_budget = budget.kind == "executed_actions"
    # Under the world-step budget a failure says nothing about the executed-action budget.
    in_executed = success if executed_budget else (True if success else None)
    return TimeAwareOutcome(
        budget=budget.kind,
        world_step_limit=budget.limit,
        executed_limit=budget.limit if executed_budget else None,
        world_cap_s=budget.world_cap_s,
        success=success,
        success_world_steps=in_world,
        success_executed=in_executed,
        time_to_success_s=steps_to_success * budget.control_dt_s if success else None,
        steps_to_success=steps_to_success if success else None,
        executed_actions=executed,
        hold_fraction=int(stats.get("hold_steps", 0)) / max(steps, 1),
        stale_dropped=int(stats.get("stale_dropped", 0)),
        inferences=int(stats.get("inferences", 0)),
        executor=str(stats.get("executor", "direct")),
    )


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
    video_size: int = 128,
    subscribers: Sequence[Subscriber] = (),
    index: int = 0,
    budget: StepBudget | None = None,
) -> EpisodeRecord:
    """Run one episode, publish it to ``subscribers`` (in order) and return its record.

    ``num_wait_steps`` no-op steps follow the reset (the OpenVLA/openpi LIBERO convention: objects settle)
    and do not count towards the episode limit or the step count. Latencies are recorded per control
    step in ms. ``video_path``: an mp4 of the agent view at ``video_size`` px beside a panel of
    the decisions (experiments.video), ``video_fps`` frames/s. ``index`` numbers the episode within the run (loggers key their rows by it).
    ``budget``: the episode also ends at its limit (the env's own truncation still applies) and
    the record's ``extra["time_aware"]`` states it under both budgets; None: the env's limit only.
    """
    wall_start = time.perf_counter()
    obs, info = env.reset(seed=seed, options={"init_state": init_state})
    noop = np.zeros(env.action_space.shape, dtype=np.float32)
    noop[-1] = -1.0  # keep the gripper open while waiting
    for _ in range(num_wait_steps):
        obs, _, _, _, info = env.step(noop)
    actor.reset(env)
    latencies, timeline = StepLatencies(), DecisionTimeline()
    # The recorder comes before the caller's subscribers: the mp4 is on disk when a logger's
    # on_episode_end attaches it.
    video = (
        [VideoRecorder(env, video_path, video_size, video_fps)] if video_path is not None else []
    )
    publish = Publisher([latencies, timeline, *video, *subscribers])
    publish.episode_start(
        EpisodeStart(
            index=index, suite=suite, task=task, init_state=init_state, seed=seed,
            video_path=str(video_path) if video_path is not None else None,
        )
    )  # fmt: skip
    steps = executed = 0
    steps_to_success: int | None = None
    success = False
    terminated = truncated = False
    while not (terminated or truncated):
        world_time_s = float(info.get("sim_time", math.nan))
        t0 = time.perf_counter()
        action = actor.act(obs, info)
        t1 = time.perf_counter()
        obs, _, terminated, truncated, info = env.step(action)
        t2 = time.perf_counter()
        event = step_event(actor, steps, world_time_s, (t1 - t0) * 1e3, (t2 - t1) * 1e3)
        publish.step(event)
        steps += 1
        executed += event.action_source is not ActionSource.HOLD
        success = bool(info.get("is_success", False))
        if success and steps_to_success is None:
            steps_to_success = steps
        if budget is not None and not success and _budget_spent(budget, steps, executed):
            break
    extra = actor.episode_stats() if isinstance(actor, ReportsEpisodeStats) else {}
    if budget is not None:
        extra["time_aware"] = outcome(
            budget, success, steps, executed, steps_to_success, extra
        ).to_json()
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


def _budget_spent(budget: StepBudget, steps: int, executed: int) -> bool:
    if budget.kind == "world_steps":
        return steps >= budget.limit
    assert budget.world_cap_steps is not None  # checked by StepBudget
    return executed >= budget.limit or steps >= budget.world_cap_steps


def budget_from_config(eval_cfg: Any, limit: int, control_hz: float) -> StepBudget:
    """``eval.budget`` / ``eval.max_world_s`` for a suite limit of ``limit`` steps at ``control_hz`` Hz.

    The executed-action budget's world-time cap defaults to 3 x the limit's world time (the
    budget at which sync at 800 ms matched blocking, issue 21).
    """
    kind = str(eval_cfg.get("budget", "world_steps") or "world_steps")
    dt = 1.0 / float(control_hz)
    if kind != "executed_actions":
        return StepBudget(kind, limit, dt)
    cap_s = eval_cfg.get("max_world_s")
    if cap_s is not None and (isinstance(cap_s, bool) or not float(cap_s) > 0):
        raise InvalidValueError("eval.max_world_s", cap_s, "null or seconds > 0")
    cap_steps = 3 * limit if cap_s is None else math.ceil(float(cap_s) / dt - 1e-9)
    return StepBudget(kind, limit, dt, cap_steps)
