"""``check_scheduler``: the contract every inference scheduler keeps, checked the way gymnasium's
``env_checker`` checks an environment (each failed check raises naming what broke).

The scheduler is driven through synthetic episodes by a small stand-in for
``ecc.runtime.simulated`` (same queue, pending-request and preemption rules): chunks of
``chunk`` actions arrive ``latency_steps`` control steps after a request, each with the info
fields the policies report (``token_entropy``, ``sample_spread``, ``features``, ``infer_ms``),
and every step's env info carries the 500 Hz joint histories RAPID reads. Checks:

- ``name`` is a non-empty str and ``aggregate`` a known chunk merge (``ecc.runtime.merge``);
- ``decide`` returns a :class:`~ecc.schedulers.base.Decision` at every step, with a target the
  runtimes accept and bool ``infer`` / ``preempt``;
- liveness: with an empty queue and nothing in flight it requests an inference (else the robot
  holds forever), and it never preempts without requesting (a preemption cancels the request
  in flight, so a bare one leaves the robot with nothing coming);
- ``reset`` restarts it: an episode replayed after ``reset`` gets the same decisions, and a
  fresh instance decides the same (no state kept across episodes, no hidden randomness).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import VeccError
from ecc.runtime.deployment import TARGETS
from ecc.runtime.merge import CHUNK_MERGES
from ecc.schedulers.base import Decision, Scheduler, StepContext


class SchedulerContractError(VeccError, AssertionError):
    """A scheduler broke its contract; the message names the scheduler, the step and the check."""


@dataclass(frozen=True)
class EpisodeSpec:
    """One synthetic episode: ``steps`` control steps, chunks of ``chunk`` actions arriving
    ``latency_steps`` steps after the request; ``feature_dim`` values in ``info['features']``."""

    steps: int = 60
    chunk: int = 8
    latency_steps: int = 2
    feature_dim: int = 16
    seed: int = 0


CHECK_EPISODES = (EpisodeSpec(), EpisodeSpec(chunk=1, latency_steps=0, seed=1),
                  EpisodeSpec(chunk=16, latency_steps=12, seed=2))  # fmt: skip


def _inference_info(rng: np.random.Generator, spec: EpisodeSpec) -> dict[str, Any]:
    return {
        "token_entropy": rng.exponential(1.0, size=7),  # nats
        "sample_spread": float(rng.exponential(0.1)),  # normalised action units
        "features": rng.normal(size=spec.feature_dim).astype(np.float32),
        "infer_ms": float(rng.uniform(5.0, 50.0)),
    }


def _env_info(rng: np.random.Generator) -> dict[str, Any]:
    # 10 physics substeps of a 7-joint arm per control step (500 Hz at 50 Hz control)
    return {
        "joint_vel_history": rng.normal(0.0, 0.3, size=(10, 7)),
        "joint_torque_history": rng.normal(0.0, 2.0, size=(10, 7)),
    }


def run_episode(scheduler: Scheduler, spec: EpisodeSpec) -> list[Decision]:
    """Reset ``scheduler`` and drive it through one synthetic episode; its decisions, checked."""
    name = getattr(scheduler, "name", type(scheduler).__name__)
    rng = np.random.default_rng(spec.seed)
    scheduler.reset()
    queue = chunk_len = 0
    last_request, pending_left = 0, None  # steps until the request in flight arrives
    last_info: dict[str, Any] = {}
    decisions: list[Decision] = []
    for step in range(spec.steps):
        if pending_left is not None and pending_left <= 0:
            queue = chunk_len = spec.chunk
            last_info, pending_left = _inference_info(rng, spec), None
        ctx = StepContext(step, queue, chunk_len, step - last_request, pending_left is not None,
                          {"proprio": rng.normal(size=9)}, _env_info(rng), last_info)  # fmt: skip
        d = scheduler.decide(ctx)
        where = f"scheduler {name!r} at step {step} (queue {queue}, pending {ctx.pending})"
        if not isinstance(d, Decision):
            raise SchedulerContractError(f"{where}: decide returned {type(d).__name__}; "
                                         "allowed: Decision")  # fmt: skip
        if d.target not in TARGETS:
            raise SchedulerContractError(f"{where}: target={d.target!r} is not allowed; "
                                         f"allowed: {', '.join(TARGETS)}")  # fmt: skip
        if not isinstance(d.infer, bool | np.bool_) or not isinstance(d.preempt, bool | np.bool_):
            raise SchedulerContractError(f"{where}: infer/preempt must be bools, got {d}")
        if queue == 0 and not ctx.pending and not d.infer:
            raise SchedulerContractError(f"{where}: empty queue, nothing in flight, no request")
        if d.preempt and not d.infer:
            raise SchedulerContractError(f"{where}: preempt without a request leaves no chunk")
        decisions.append(d)
        if d.preempt:
            queue, pending_left = 0, None
        if d.infer and pending_left is None:
            pending_left, last_request = spec.latency_steps, step
        queue = max(queue - 1, 0)
        if pending_left is not None:
            pending_left -= 1
    return decisions


def check_scheduler(
    make: Callable[[], Scheduler], episodes: tuple[EpisodeSpec, ...] = CHECK_EPISODES
) -> None:
    """Raise :class:`SchedulerContractError` on the first broken check; ``make`` builds a fresh
    scheduler (a class, ``functools.partial`` or a ``_target_`` instantiation)."""
    first, fresh = make(), make()
    name = getattr(first, "name", None)
    if not isinstance(name, str) or not name:
        raise SchedulerContractError(f"{make!r}: name={name!r}; allowed: a non-empty str")
    aggregate = getattr(first, "aggregate", None)
    if aggregate not in CHUNK_MERGES:
        raise SchedulerContractError(f"scheduler {name!r}: aggregate={aggregate!r} is not "
                                     f"allowed; allowed: {', '.join(CHUNK_MERGES)}")  # fmt: skip
    for m in ("reset", "decide"):
        if not callable(getattr(first, m, None)):
            raise SchedulerContractError(f"scheduler {name!r} has no {m}() method")
    for spec in episodes:
        once = run_episode(first, spec)
        again = run_episode(first, spec)
        if once != again:
            step = next(i for i, (a, b) in enumerate(zip(once, again, strict=True)) if a != b)
            raise SchedulerContractError(f"scheduler {name!r}: after reset() the same episode "
                                         f"got other decisions from step {step}")  # fmt: skip
        if run_episode(fresh, spec) != once:
            raise SchedulerContractError(
                f"scheduler {name!r}: a fresh instance decides differently (hidden state/random)"
            )
