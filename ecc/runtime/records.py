"""The typed step record: what one inference cost, what one control step did, what an episode was.

Every number carries its unit in its name or docstring; a mapping named ``*_ms`` holds milliseconds
only. Facts that are not durations (link bandwidth, fallback, round trips, bytes, precision) are
fields of their own. These records are what the runtime and the rollout publish to subscribers
(``ecc.runtime.subscribers``) and what ``episodes.jsonl`` / ``results.json`` are written from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

import numpy as np

# The parts of an inference's latency, in the order the result files have always listed them (ms).
BREAKDOWN_FIELDS = ("edge_ms", "uplink_ms", "cloud_ms", "downlink_ms", "network_ms", "planner_ms")
# The durations every control step has (StepEvent); every other latency field is per inference.
STEP_FIELDS = ("policy_ms", "env_ms")
# The parts that happen off the edge: waiting for, computing on and returning from the cloud (ms).
REMOTE_FIELDS = ("uplink_ms", "cloud_ms", "downlink_ms", "network_ms")


@dataclass(frozen=True)
class InferenceTiming:
    """What one action generation cost.

    ``total_ms`` is the latency from observation to actions that the world waits (ms). The parts
    (``edge_ms`` ... ``planner_ms``, ms) are None when the latency source does not produce them: a
    constant or measured source sets ``edge_ms`` only, a modeled deployment the edge, uplink, cloud,
    downlink and planner parts, an emulated one the edge, cloud and network parts. ``network_ms`` is
    the emulated round trips minus the server's compute (serialisation, link delay, transfer).
    A planner's deadline fallback charges the wait until the deadline as ``uplink_ms``.

    ``source`` says where the figure came from (``measured``, ``constant``, ``model:<arch>@<hw>``,
    ``emulated:...``) so every result records whether latency was measured or modeled.
    """

    total_ms: float
    edge_ms: float | None = None
    uplink_ms: float | None = None
    cloud_ms: float | None = None
    downlink_ms: float | None = None
    network_ms: float | None = None
    planner_ms: float | None = None
    # the acting policy's own in-process wall time for this generation (ms); set by the runtime
    policy_compute_ms: float | None = None
    uplink_mbps: float | None = None  # link uplink at the request's world time (Mbit/s)
    fallback: bool = False  # the remote part was abandoned and the generation finished on the edge
    aborted: bool = False  # emulated: the deadline expired (the cloud was slow, not gone)
    round_trips: int | None = None  # emulated: wire round trips of this generation (count)
    bytes_up: int = 0  # bytes edge -> cloud
    bytes_down: int = 0  # bytes cloud -> edge
    cut: str | None = None  # partition label (``edge_only``, ``cloud_only``, a stage name)
    act_bits: int | None = None  # activation bits of this generation (precision control)
    request_step: int | None = None  # control step of the request (0-based)
    world_time_s: float | None = None  # world time of the request (s since reset)
    source: str = "unknown"

    @property
    def breakdown_ms(self) -> dict[str, float]:
        """The latency parts this source produced (name -> ms); milliseconds only."""
        return {k: v for k in BREAKDOWN_FIELDS if (v := getattr(self, k)) is not None}

    @property
    def remote_ms(self) -> float:
        """Uplink + cloud + downlink (+ emulated network) time (ms); 0 for edge-only."""
        return float(sum(getattr(self, k) or 0.0 for k in REMOTE_FIELDS))

    @property
    def is_cloud_call(self) -> bool:
        """The cloud computed part of this generation."""
        return (self.cloud_ms or 0.0) > 0

    def step_latency_ms(self) -> dict[str, float]:
        """The per-step ms values this inference contributes (``inference_ms`` = ``total_ms``)."""
        out = {"inference_ms": float(self.total_ms)}
        if self.policy_compute_ms is not None:
            out["policy_compute_ms"] = float(self.policy_compute_ms)
        out.update(self.breakdown_ms)
        return out


class ActionSource(str, Enum):
    """Where a control step's action came from."""

    FRESH = "fresh"  # the first action of a chunk that arrived at this step
    CACHED = "cached"  # a later action of a chunk already queued
    HOLD = "hold"  # nothing queued: zero pose delta, last gripper command
    DIRECT = "direct"  # an actor without a runtime chose it (scripted expert, plain policy actor)


@dataclass(frozen=True)
class StepEvent:
    """One control step, published to subscribers after ``env.step``.

    ``inference`` is set on the step that requested an inference (its latency starts here; in
    blocking mode the chunk also arrives here). ``act_bits`` is the precision a controller chose
    after this executed action (None: no controller, or the robot held). ``policy_ms`` / ``env_ms``
    are the wall ms of ``act`` and ``env.step``; ``other_ms`` carries named ms values of actors
    without a runtime (e.g. ``infer_ms`` of a plain policy actor).
    """

    step: int
    world_time_s: float
    action_source: ActionSource
    inference: InferenceTiming | None = None
    arrived: bool = False
    act_bits: int | None = None
    policy_ms: float | None = None
    env_ms: float | None = None
    other_ms: dict[str, float] = field(default_factory=dict)

    @property
    def inference_started(self) -> bool:
        return self.inference is not None

    def latency_ms(self) -> dict[str, float]:
        """Every duration of this step (name -> ms): what ``step_latency_ms`` lists are built from."""
        out: dict[str, float] = {}
        if self.policy_ms is not None:
            out["policy_ms"] = float(self.policy_ms)
        if self.env_ms is not None:
            out["env_ms"] = float(self.env_ms)
        if self.inference is not None:
            out.update(self.inference.step_latency_ms())
        out.update({k: float(v) for k, v in self.other_ms.items()})
        return out


@dataclass(frozen=True)
class EpisodeSummary:
    """Per-episode latency and decision figures of a runtime (episodes.jsonl: ``extra["episode_summary"]``).

    Per-step figures divide the episode's summed latency by its control steps (ms per step):
    ``per_step_ms`` the whole inference, ``cloud_per_step_ms`` its uplink + cloud + downlink (+
    network) part, ``edge_per_step_ms`` its edge part. ``per_inference_ms`` is the mean inference
    latency (ms; NaN without inferences). ``edge_memory_bytes`` is the weights resident on the edge
    under the last cut (bytes; None where the latency source does not model memory).
    """

    steps: int
    inferences: int
    cloud_calls: int
    fallbacks: int
    preemptions: int
    hold_steps: int
    cancelled_requests: int
    per_step_ms: float
    cloud_per_step_ms: float
    edge_per_step_ms: float
    per_inference_ms: float
    inference_ms: list[float]
    bytes_up: int
    bytes_down: int
    redundant_fraction: float | None = None
    edge_memory_bytes: float | None = None

    @classmethod
    def from_inferences(
        cls,
        inferences: list[InferenceTiming],
        steps: int,
        *,
        preemptions: int,
        hold_steps: int,
        cancelled_requests: int,
        redundant_fraction: float | None = None,
        edge_memory_bytes: float | None = None,
    ) -> EpisodeSummary:
        """Sum ``inferences`` over ``steps`` control steps; the counters are the runtime's."""
        n = max(steps, 1)
        total = [float(t.total_ms) for t in inferences]
        return cls(
            steps=steps,
            inferences=len(inferences),
            cloud_calls=sum(1 for t in inferences if t.is_cloud_call),
            fallbacks=sum(1 for t in inferences if t.fallback),
            per_step_ms=sum(total) / n,
            cloud_per_step_ms=sum(t.remote_ms for t in inferences) / n,
            edge_per_step_ms=sum(t.edge_ms or 0.0 for t in inferences) / n,
            per_inference_ms=sum(total) / len(total) if total else math.nan,
            inference_ms=total,
            bytes_up=sum(t.bytes_up for t in inferences),
            bytes_down=sum(t.bytes_down for t in inferences),
            preemptions=preemptions,
            hold_steps=hold_steps,
            cancelled_requests=cancelled_requests,
            redundant_fraction=redundant_fraction,
            edge_memory_bytes=edge_memory_bytes,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> EpisodeSummary:
        """Read back an ``extra["episode_summary"]`` row (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})


@dataclass(frozen=True)
class TimeAwareOutcome:
    """An episode under both step budgets (episodes.jsonl: ``extra["time_aware"]``).

    The world-step budget (``world_step_limit`` control steps of world time, LIBERO's limit read
    as a deadline) and the executed-action budget (``executed_limit`` actions that moved the
    robot, hold steps not counted, capped at ``world_cap_s`` world seconds; None when the run used
    the world-step budget only). The trajectory is the same up to either limit, so one rollout
    to the larger budget decides both. Times are world seconds since the reset's wait steps.
    """

    budget: str  # the budget the rollout ran to: world_steps | executed_actions
    world_step_limit: int  # control steps
    executed_limit: int | None  # executed actions (None: world_steps budget)
    world_cap_s: float | None  # s
    success: bool  # under the budget the rollout ran to
    success_world_steps: bool  # success within world_step_limit control steps
    success_executed: bool | None  # success within executed_limit actions and world_cap_s
    time_to_success_s: float | None  # world s at success (None: no success)
    steps_to_success: int | None  # control steps at success
    executed_actions: int  # actions that moved the robot (not hold)
    hold_fraction: float  # share of control steps spent holding, in [0, 1]
    stale_dropped: int  # chunk actions dropped on arrival (their timestep had passed)
    inferences: int
    executor: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> TimeAwareOutcome:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})


@dataclass
class EpisodeRecord:
    """One finished episode. Latency fields are per control step, in ms."""

    suite: str
    task: str
    init_state: int
    seed: int
    success: bool
    steps: int
    sim_time_s: float
    wall_time_s: float
    language: str = ""
    # name -> per-step values (ms only); summarised, not stored raw in episodes.jsonl
    step_latency_ms: dict[str, list[float]] = field(default_factory=dict)
    # counters, the decision timeline and ``episode_summary`` of the actor (JSON-ready)
    extra: dict[str, Any] = field(default_factory=dict)
    # every inference of the episode; summarised into results.json, not stored per episode
    inferences: list[InferenceTiming] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The episodes.jsonl row: per-step latencies summarised by :func:`latency_stats`."""
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "inferences"}
        row["extra"] = dict(self.extra)
        row["step_latency_ms"] = {k: latency_stats(v) for k, v in self.step_latency_ms.items()}
        return row


def latency_stats(values: Sequence[float]) -> dict[str, float]:
    """mean / p50 / p95 / max of a list of values (unit of the values, e.g. ms); NaN when empty."""
    if len(values) == 0:
        return {"mean": math.nan, "p50": math.nan, "p95": math.nan, "max": math.nan, "n": 0}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(arr.mean()),
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "max": float(arr.max()),
        "n": int(arr.size),
    }


@dataclass(frozen=True)
class EpisodeStart:
    """What subscribers learn when an episode starts (``index`` counts episodes of the run)."""

    index: int
    suite: str
    task: str
    init_state: int
    seed: int
    video_path: str | None = None
