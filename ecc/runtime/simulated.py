"""Simulated runtime: the acting policy runs in-process, the world sees the deployment's latency.

World-time modes:
- ``blocking``: the world waits for every inference (LIBERO-style evaluation). Latency is recorded but
  changes nothing in the world.
- ``realtime``: world time advances during inference. A request made at control step k with latency L
  delivers its chunk at step k + ceil(L / dt). Until then the robot keeps executing the cached chunk, or
  holds still (zero pose delta, last gripper command) once it is exhausted. On arrival, the actions whose
  timesteps the robot already spent executing the previous chunk are dropped (LeRobot-style alignment by
  timestep); steps spent holding drop nothing, since the plan did not advance.

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
    executed_since_request: int = 0


class SimulatedRuntime:
    """Wraps a chunk policy into a step-wise actor with latency in the loop.

    Args:
        policy: returns an action chunk [T, action_dim] for an observation.
        latency: prices each inference (ms).
        mode: ``blocking`` or ``realtime`` (see module docstring).
        control_hz: control rate of the environment (Hz); one step is 1000 / control_hz ms.
        request_threshold: request a new chunk when the cached queue holds at most this many actions and
            nothing is pending (0: replan when the chunk is used up, openpi's chunk replay).
        execute_horizon: use at most this many actions of each chunk (None: all).
    """

    def __init__(
        self,
        policy: ChunkPolicy,
        latency: LatencySource,
        mode: str = "blocking",
        control_hz: float = 20.0,
        request_threshold: int = 0,
        execute_horizon: int | None = None,
    ) -> None:
        check_choice("runtime.mode", mode, [m.value for m in WorldTimeMode])
        check_positive("runtime.control_hz", control_hz)
        check_positive("runtime.request_threshold", request_threshold, allow_zero=True)
        if execute_horizon is not None:
            check_positive("runtime.execute_horizon", execute_horizon)
        self.policy = policy
        self.latency = latency
        self.mode = WorldTimeMode(mode)
        self.step_ms = 1000.0 / control_hz
        self.request_threshold = request_threshold
        self.execute_horizon = execute_horizon
        self.last_latency_ms: dict[str, float] = {}
        self.inferences: list[InferenceTiming] = []
        self._reset_state()

    def _reset_state(self) -> None:
        self._queue: deque[np.ndarray] = deque()
        self._pending: _Pending | None = None
        self._step = 0
        self._last_gripper = -1.0
        self._language = ""
        self.hold_steps = 0

    def reset(self, env: Any) -> None:
        self._reset_state()
        self.inferences = []
        self._language = getattr(getattr(env, "unwrapped", env), "language", "")
        self.policy.reset()
        self.latency.reset()

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        """The action for the current control step; sets ``last_latency_ms`` for this step (ms)."""
        self.last_latency_ms = {}
        self._deliver_if_arrived()
        if self._pending is None and len(self._queue) <= self.request_threshold:
            self._request(obs)
        held = not self._queue
        if held:
            action = self._hold_action()
            self.hold_steps += 1
        else:
            action = self._queue.popleft()
            if self._pending is not None:
                self._pending.executed_since_request += 1
        self._last_gripper = float(action[-1])
        self._step += 1
        return action

    def episode_stats(self) -> dict[str, Any]:
        """Per-episode counters for the result row (inferences, hold steps, bytes moved)."""
        return {
            "inferences": len(self.inferences),
            "hold_steps": self.hold_steps,
            "bytes_up": sum(t.bytes_up for t in self.inferences),
            "bytes_down": sum(t.bytes_down for t in self.inferences),
            "latency_source": self.inferences[0].source if self.inferences else None,
            "world_time_mode": self.mode.value,
        }

    def _hold_action(self) -> np.ndarray:
        action = np.zeros(7, dtype=np.float32)
        action[-1] = self._last_gripper
        return action

    def _request(self, obs: dict[str, Any]) -> None:
        if "language" not in obs and self._language:
            obs = {**obs, "language": self._language}
        t0 = time.perf_counter()
        chunk, _info = self.policy.predict_action_chunk(obs)
        measured_ms = (time.perf_counter() - t0) * 1e3
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim != 2 or chunk.shape[0] == 0:
            raise InvalidValueError(
                "policy action chunk shape", tuple(chunk.shape), "[T, action_dim] with T >= 1"
            )
        if self.execute_horizon is not None:
            chunk = chunk[: self.execute_horizon]
        timing = self.latency.charge(self._step * self.step_ms / 1e3, measured_ms)
        self.inferences.append(timing)
        self.last_latency_ms.update(
            {"inference_ms": timing.total_ms, "policy_compute_ms": measured_ms}
        )
        self.last_latency_ms.update(timing.breakdown_ms)
        if self.mode is WorldTimeMode.BLOCKING:
            self._queue = deque(chunk)
            return
        delay_steps = math.ceil(timing.total_ms / self.step_ms - 1e-9)
        self._pending = _Pending(chunk=chunk, arrival_step=self._step + delay_steps)
        self._deliver_if_arrived()

    def _deliver_if_arrived(self) -> None:
        p = self._pending
        if p is None or self._step < p.arrival_step:
            return
        self._pending = None
        # Actions for timesteps already spent on the previous chunk are stale; may leave nothing.
        self._queue = deque(p.chunk[p.executed_since_request :])
