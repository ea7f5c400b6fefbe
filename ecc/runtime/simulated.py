"""Simulated runtime: the acting policy runs in-process, the world sees the deployment's latency.

World-time modes:
- ``blocking``: the world waits for every inference (LIBERO-style evaluation). Latency is recorded but
  changes nothing in the world.
- ``realtime``: world time advances during inference. A request made at control step k with latency L
  delivers its chunk at step k + ceil(L / dt). Until then the robot keeps executing the cached chunk, or
  holds still (zero pose delta, last gripper command) once it is exhausted. On arrival, the actions whose
  timesteps the robot already spent executing the previous chunk are dropped (LeRobot-style alignment by
  timestep); steps spent holding drop nothing, since the plan did not advance.

When to infer is the scheduler's call (``ecc.schedulers``); the default replays each chunk to the end.
The policy is called on the observation of the request step (its compute happens "during" the latency),
so runs are deterministic whenever the latency source is.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import numpy as np

from ecc.errors import InvalidValueError, check_choice, check_positive
from ecc.runtime.latency import InferenceTiming, LatencySource
from ecc.schedulers import QueueThreshold, Scheduler, StepContext


class WorldTimeMode(str, Enum):
    BLOCKING = "blocking"
    REALTIME = "realtime"


class ChunkPolicy(Protocol):
    """The part of a VLA policy a runtime needs (LeRobot-style)."""

    def reset(self) -> None: ...

    def predict_action_chunk(self, obs: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]: ...


@dataclass
class _Pending:
    chunk: np.ndarray
    arrival_step: int
    info: dict[str, Any]
    executed_since_request: int = 0


class SimulatedRuntime:
    """Wraps a chunk policy into a step-wise actor with latency in the loop.

    Args:
        policy: returns an action chunk [T, action_dim] for an observation.
        latency: prices each inference (ms).
        scheduler: decides at each step whether to infer or preempt (default: replay each chunk).
        mode: ``blocking`` or ``realtime`` (see module docstring).
        control_hz: control rate of the environment (Hz); one step is 1000 / control_hz ms.
        execute_horizon: use at most this many actions of each chunk (None: all).
    """

    def __init__(
        self,
        policy: ChunkPolicy,
        latency: LatencySource,
        scheduler: Scheduler | None = None,
        mode: str = "blocking",
        control_hz: float = 20.0,
        execute_horizon: int | None = None,
    ) -> None:
        check_choice("runtime.mode", mode, [m.value for m in WorldTimeMode])
        check_positive("runtime.control_hz", control_hz)
        if execute_horizon is not None:
            check_positive("runtime.execute_horizon", execute_horizon)
        self.policy = policy
        self.latency = latency
        self.scheduler = scheduler if scheduler is not None else QueueThreshold(fraction=0.0)
        self.mode = WorldTimeMode(mode)
        self.step_ms = 1000.0 / control_hz
        self.execute_horizon = execute_horizon
        self.last_latency_ms: dict[str, float] = {}
        self.inferences: list[InferenceTiming] = []
        self._observe_executed = getattr(policy, "observe_executed", None)
        self._reset_state()

    def _reset_state(self) -> None:
        self._queue: deque[np.ndarray] = deque()
        self._pending: _Pending | None = None
        self._step = 0
        self._last_request_step = -(10**9)
        self._chunk_len = 0
        self._last_gripper = -1.0
        self._last_info: dict[str, Any] = {}
        self._language = ""
        self.hold_steps = 0
        self.preemptions = 0
        self.cancelled = 0

    def reset(self, env: Any) -> None:
        self._reset_state()
        self.inferences = []
        self._language = getattr(getattr(env, "unwrapped", env), "language", "")
        self.policy.reset()
        self.latency.reset()
        self.scheduler.reset()

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> np.ndarray:
        """The action for the current control step; sets ``last_latency_ms`` for this step (ms)."""
        self.last_latency_ms = {}
        self._deliver_if_arrived()
        ctx = StepContext(
            step=self._step,
            queue_len=len(self._queue),
            chunk_len=self._chunk_len,
            steps_since_request=self._step - self._last_request_step,
            pending=self._pending is not None,
            obs=obs,
            info=info or {},
            last_inference_info=self._last_info,
        )
        decision = self.scheduler.decide(ctx)
        if decision.preempt:
            self.preemptions += 1
            self._queue.clear()
            if self._pending is not None:  # a replan supersedes the request in flight
                self._pending = None
                self.cancelled += 1
        if decision.infer and self._pending is None:
            self._request(obs, decision.target)
        if self._queue:
            action = self._queue.popleft()
            if self._pending is not None:
                self._pending.executed_since_request += 1
            if self._observe_executed is not None:  # DyQ reads the actions actually executed
                self._observe_executed(action)
        else:
            action = self._hold_action()
            self.hold_steps += 1
        self._last_gripper = float(action[-1])
        self._step += 1
        return action

    def episode_stats(self) -> dict[str, Any]:
        """Per-episode counters for the result row (inferences, holds, preemptions, bytes moved)."""
        stats: dict[str, Any] = {
            "inferences": len(self.inferences),
            "hold_steps": self.hold_steps,
            "preemptions": self.preemptions,
            "cancelled_requests": self.cancelled,
            "bytes_up": sum(t.bytes_up for t in self.inferences),
            "bytes_down": sum(t.bytes_down for t in self.inferences),
            "latency_source": self.inferences[0].source if self.inferences else None,
            "world_time_mode": self.mode.value,
            "scheduler": getattr(self.scheduler, "name", type(self.scheduler).__name__),
        }
        histogram = getattr(self.policy, "histogram", None)
        if callable(histogram):  # precision-controlled policies: share of decisions per bit width
            stats["precision_histogram"] = {str(k): v for k, v in histogram().items()}
        redundant = getattr(self.scheduler, "redundant_fraction", None)
        if callable(redundant):
            stats["redundant_fraction"] = redundant()
        return stats

    def _hold_action(self) -> np.ndarray:
        action = np.zeros(7, dtype=np.float32)
        action[-1] = self._last_gripper
        return action

    def _request(self, obs: dict[str, Any], target: str) -> None:
        if "language" not in obs and self._language:
            obs = {**obs, "language": self._language}
        t0 = time.perf_counter()
        chunk, info = self.policy.predict_action_chunk(obs)
        measured_ms = (time.perf_counter() - t0) * 1e3
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim != 2 or chunk.shape[0] == 0:
            raise InvalidValueError(
                "policy action chunk shape", tuple(chunk.shape), "[T, action_dim], T >= 1"
            )
        if self.execute_horizon is not None:
            chunk = chunk[: self.execute_horizon]
        timing = self.latency.charge(self._step * self.step_ms / 1e3, measured_ms, target)
        self.inferences.append(timing)
        self._last_request_step = self._step
        self.last_latency_ms.update(
            {"inference_ms": timing.total_ms, "policy_compute_ms": measured_ms}
        )
        self.last_latency_ms.update(timing.breakdown_ms)
        if self.mode is WorldTimeMode.BLOCKING:
            self._arrive(chunk, info, stale=0)
            return
        delay_steps = math.ceil(timing.total_ms / self.step_ms - 1e-9)
        self._pending = _Pending(chunk=chunk, arrival_step=self._step + delay_steps, info=info)
        self._deliver_if_arrived()

    def _deliver_if_arrived(self) -> None:
        p = self._pending
        if p is None or self._step < p.arrival_step:
            return
        self._pending = None
        self._arrive(p.chunk, p.info, stale=p.executed_since_request)

    def _arrive(self, chunk: np.ndarray, info: dict[str, Any], stale: int) -> None:
        # Actions for timesteps already spent on the previous chunk are stale; may leave nothing.
        fresh = chunk[stale:].copy()
        old = list(self._queue)
        if getattr(self.scheduler, "aggregate", "latest") == "weighted_average" and old:
            alpha = float(getattr(self.scheduler, "alpha", 0.5))
            n = min(len(old), len(fresh))
            fresh[:n, :-1] = alpha * fresh[:n, :-1] + (1 - alpha) * np.stack(old[:n])[:, :-1]
        self._queue = deque(fresh)
        self._chunk_len = len(chunk)
        self._last_info = info
