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
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ecc.errors import InvalidValueError, check_choice, check_positive
from ecc.runtime.latency import LatencySource
from ecc.runtime.merge import chunk_merge
from ecc.runtime.records import ActionSource, EpisodeSummary, InferenceTiming, StepEvent
from ecc.schedulers import QueueThreshold, Scheduler, StepContext

if TYPE_CHECKING:  # ecc.executors imports ecc.runtime.merge: a runtime import would be a cycle
    from ecc.executors.base import Executor


class WorldTimeMode(str, Enum):
    BLOCKING = "blocking"
    REALTIME = "realtime"


class ChunkPolicy(Protocol):
    """The part of a VLA policy a runtime needs (LeRobot-style)."""

    def reset(self) -> None: ...

    def predict_action_chunk(self, obs: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]: ...


@runtime_checkable
class ObservesExecuted(Protocol):
    """A policy that is told every executed action (DyQ); returns the bits it chose next, if any."""

    def observe_executed(self, action: np.ndarray) -> int | None: ...


@runtime_checkable
class ReportsEdgeMemory(Protocol):
    """A latency source that models the weights resident on the edge (bytes)."""

    def edge_memory_bytes(self) -> float: ...


@runtime_checkable
class ReportsHistogram(Protocol):
    """A precision-controlled policy: share of this episode's decisions at each bit width."""

    def histogram(self) -> dict[int, float]: ...


@dataclass
class _Pending:
    chunk: np.ndarray
    arrival_step: int
    info: dict[str, Any]
    executed_since_request: int = 0


@runtime_checkable
class ReportsRedundancy(Protocol):
    """A scheduler that can say which share of its decisions kept the cached chunk playing."""

    def redundant_fraction(self) -> float: ...


class SimulatedRuntime:
    """Wraps a chunk policy into a step-wise actor with latency in the loop.

    After every ``act`` the step is described by ``last_step`` (a ``StepEvent``: action source,
    the inference requested at this step, whether a chunk arrived); ``inferences`` lists every
    ``InferenceTiming`` of the episode and ``episode_summary()`` condenses them.

    Args:
        policy: returns an action chunk [T, action_dim] for an observation.
        latency: prices each inference (ms).
        scheduler: decides at each step whether to infer or preempt (default: replay each chunk);
            its ``aggregate`` names the chunk merge (``ecc.runtime.merge``), ``alpha`` its weight.
        mode: ``blocking`` or ``realtime`` (see module docstring).
        control_hz: control rate of the environment (Hz); one step is 1000 / control_hz ms.
        execute_horizon: use at most this many actions of each chunk (None: all).
        executor: owns the request policy, the chunk generation and the merge (``ecc.executors``);
            None: the scheduler decides and ``scheduler.aggregate`` merges (the behaviour before
            executors existed; ``executor=scheduler`` is the same through an executor).
    """

    def __init__(
        self,
        policy: ChunkPolicy,
        latency: LatencySource,
        scheduler: Scheduler | None = None,
        mode: str = "blocking",
        control_hz: float = 20.0,
        execute_horizon: int | None = None,
        executor: Executor | None = None,
    ) -> None:
        check_choice("runtime.mode", mode, [m.value for m in WorldTimeMode])
        check_positive("runtime.control_hz", control_hz)
        if execute_horizon is not None:
            check_positive("runtime.execute_horizon", execute_horizon)
        self.policy = policy
        self.latency = latency
        self.scheduler = scheduler if scheduler is not None else QueueThreshold(fraction=0.0)
        self.executor = executor
        if executor is not None:  # the executor decides; a scheduler executor hands back its own
            self.scheduler = executor.bind(policy, self.scheduler, control_hz)
        self._merge = chunk_merge(getattr(self.scheduler, "aggregate", "latest"))
        self._alpha = float(getattr(self.scheduler, "alpha", 0.5))
        self.mode = WorldTimeMode(mode)
        self.step_ms = 1000.0 / control_hz
        self.execute_horizon = execute_horizon
        self.last_step: StepEvent | None = None
        self.inferences: list[InferenceTiming] = []
        self._observer = policy if isinstance(policy, ObservesExecuted) else None
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
        self._arrived = False  # a chunk was delivered during the current step
        self.hold_steps = 0
        self.preemptions = 0
        self.cancelled = 0
        self.stale_dropped = 0  # chunk actions dropped on arrival: their timestep had passed

    @property
    def last_latency_ms(self) -> dict[str, float]:
        """The ms values of the last step's inference (empty when it requested none)."""
        timing = self.last_step.inference if self.last_step is not None else None
        return timing.step_latency_ms() if timing is not None else {}

    def reset(self, env: object) -> None:
        """Start an episode in ``env`` (its ``language``, if any, is passed to the policy)."""
        self._reset_state()
        self.inferences = []
        self.last_step = None
        self._language = getattr(getattr(env, "unwrapped", env), "language", "")
        self.policy.reset()
        self.latency.reset()
        self.scheduler.reset()
        if self.executor is not None and self.executor is not self.scheduler:
            self.executor.reset()

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> np.ndarray:
        """The action for the current control step; ``last_step`` then describes the step."""
        self._arrived = False
        n_inferences = len(self.inferences)
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
        decision = (self.executor or self.scheduler).decide(ctx)
        if decision.preempt:
            self.preemptions += 1
            self._queue.clear()
            if self._pending is not None:  # a replan supersedes the request in flight
                self._pending = None
                self.cancelled += 1
        if decision.infer and self._pending is None:
            self._request(obs, decision.target)
        act_bits = None
        if self._queue:
            action = self._queue.popleft()
            source = ActionSource.FRESH if self._arrived else ActionSource.CACHED
            if self._pending is not None:
                self._pending.executed_since_request += 1
            if self._observer is not None:  # DyQ reads the actions actually executed
                act_bits = self._observer.observe_executed(action)
        else:
            action = self._hold_action()
            source = ActionSource.HOLD
            self.hold_steps += 1
        self.last_step = StepEvent(
            step=self._step,
            world_time_s=self._step * self.step_ms / 1e3,
            action_source=source,
            inference=self.inferences[-1] if len(self.inferences) > n_inferences else None,
            arrived=self._arrived,
            act_bits=int(act_bits) if act_bits is not None else None,
        )
        self._last_gripper = float(action[-1])
        self._step += 1
        return action

    def episode_summary(self) -> EpisodeSummary:
        """This episode's latency per step and per inference, and its decision counters."""
        redundant = (
            self.scheduler.redundant_fraction()
            if isinstance(self.scheduler, ReportsRedundancy)
            else None
        )
        memory = (
            self.latency.edge_memory_bytes()
            if isinstance(self.latency, ReportsEdgeMemory)
            else None
        )
        return EpisodeSummary.from_inferences(
            self.inferences,
            self._step,
            preemptions=self.preemptions,
            hold_steps=self.hold_steps,
            cancelled_requests=self.cancelled,
            redundant_fraction=redundant,
            edge_memory_bytes=memory,
        )

    def episode_stats(self) -> dict[str, Any]:
        """Per-episode counters for the result row (inferences, holds, preemptions, bytes moved)."""
        summary = self.episode_summary()
        stats: dict[str, Any] = {
            "inferences": summary.inferences,
            "hold_steps": summary.hold_steps,
            "preemptions": summary.preemptions,
            "cancelled_requests": summary.cancelled_requests,
            "bytes_up": summary.bytes_up,
            "bytes_down": summary.bytes_down,
            "latency_source": self.inferences[0].source if self.inferences else None,
            "world_time_mode": self.mode.value,
            "scheduler": getattr(self.scheduler, "name", type(self.scheduler).__name__),
            "stale_dropped": self.stale_dropped,
            "executor": self.executor.name if self.executor is not None else "scheduler",
        }
        if isinstance(self.policy, ReportsHistogram):  # share of decisions per bit width
            stats["precision_histogram"] = {str(k): v for k, v in self.policy.histogram().items()}
        if summary.redundant_fraction is not None:
            stats["redundant_fraction"] = summary.redundant_fraction
        stats["episode_summary"] = summary.to_json()
        return stats

    def _hold_action(self) -> np.ndarray:
        action = np.zeros(7, dtype=np.float32)
        action[-1] = self._last_gripper
        return action

    def _request(self, obs: dict[str, Any], target: str) -> None:
        if "language" not in obs and self._language:
            obs = {**obs, "language": self._language}
        t0 = time.perf_counter()
        if self.executor is None:
            chunk, info = self.policy.predict_action_chunk(obs)
        else:  # the actions sure to run before the chunk lands are the executor's to honour
            committed = np.stack(self._queue) if self._queue else np.zeros((0, 7), np.float32)
            chunk, info = self.executor.generate(self.policy, obs, committed)
        measured_ms = (time.perf_counter() - t0) * 1e3
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim != 2 or chunk.shape[0] == 0:
            raise InvalidValueError(
                "policy action chunk shape", tuple(chunk.shape), "[T, action_dim], T >= 1"
            )
        if self.execute_horizon is not None:
            chunk = chunk[: self.execute_horizon]
        world_time_s = self._step * self.step_ms / 1e3
        timing = self.latency.charge(world_time_s, measured_ms, target)
        bits = info.get("act_bits") if isinstance(info, dict) else None
        timing = replace(
            timing,
            policy_compute_ms=measured_ms,
            request_step=self._step,
            world_time_s=world_time_s,
            act_bits=int(bits) if bits is not None else timing.act_bits,
        )
        self.inferences.append(timing)
        self._last_request_step = self._step
        blocking = self.mode is WorldTimeMode.BLOCKING
        delay_steps = 0 if blocking else math.ceil(timing.total_ms / self.step_ms - 1e-9)
        if self.executor is not None:  # its latency estimate for the next request (steps)
            self.executor.observe_delay(delay_steps, len(chunk))
        if blocking:
            self._arrive(chunk, info, stale=0)
            return
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
        fresh = chunk[stale:]
        self.stale_dropped += len(chunk) - len(fresh)
        queued = np.stack(self._queue) if self._queue else fresh[:0]
        if self.executor is None:
            self._queue = deque(self._merge(queued, fresh, self._alpha))
        else:
            self._queue = deque(self.executor.merge(queued, fresh))
        self._chunk_len = len(chunk)
        self._last_info = info
        self._arrived = True
