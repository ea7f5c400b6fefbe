"""Closed-loop episodes of an acting policy behind the simulated runtime, priced as a modeled deployment.

The world sees OpenVLA-7B's modeled latency (``ModeledDeployment``: cost model of the named
architecture on an edge/cloud pair over a link) in ``realtime`` mode: the robot keeps playing the
cached chunk, or holds, while an inference is in flight. The acting policy only produces the actions
and the vision signals (entropy, features).

Per-episode metrics (``EpisodeLatency``), all in ms unless named otherwise:
- ``per_step_ms``: total inference latency charged in the episode / control steps. Split into
  ``cloud_per_step_ms`` (uplink + cloud compute + downlink) and ``edge_per_step_ms`` (edge compute).
- ``per_inference_ms``: mean latency of one inference (what an every-step protocol pays per step).
- ``cloud_calls``: inferences that used the cloud at all (cloud compute > 0).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.provenance import REPO_ROOT
from experiments.rapid.errors import RapidExperimentError

CONF = REPO_ROOT / "conf"


@dataclass
class DeploymentSpec:
    """Which real-size deployment prices each inference (names of files under conf/)."""

    architecture: str = "openvla-7b"
    edge: str = "orin_agx_64gb"
    cloud: str = "a100_80gb"
    network: str = "wifi"
    precision: str = "bf16"
    jitter: bool = True
    seed: int = 0


def _conf(group: str, name: str) -> Any:
    from omegaconf import OmegaConf

    path = CONF / group / f"{name}.yaml"
    if not path.is_file():
        options = sorted(p.stem for p in (CONF / group).glob("*.yaml"))
        raise RapidExperimentError(group, name, options)
    return OmegaConf.load(path)


def build_deployment(spec: DeploymentSpec, partition: str) -> Any:
    """A ``ModeledDeployment`` for ``spec`` with the planner of ``conf/partition/<partition>.yaml``."""
    from ecc.config import context_from_config, network_from_config, planner_from_config
    from ecc.runtime.deployment import ModeledDeployment

    part = _conf("partition", partition)
    ctx = context_from_config(
        spec.architecture, _conf("hardware", spec.edge), _conf("hardware", spec.cloud), part,
        spec.precision,  # type: ignore[arg-type]
    )  # fmt: skip
    return ModeledDeployment(
        ctx, planner_from_config(part), network_from_config(_conf("network", spec.network)),
        spec.jitter, spec.seed,
    )  # fmt: skip


@dataclass
class Arm:
    """One row of a study: a scheduler (built fresh per task) and the partition of its default calls."""

    name: str
    make_scheduler: Callable[[], Any]
    partition: str = "roboecc"


@dataclass
class EpisodeLatency:
    arm: str
    suite: str
    task: str
    perturbation: str
    init_state: int
    seed: int
    success: bool
    steps: int
    inferences: int
    cloud_calls: int
    preemptions: int
    hold_steps: int
    per_step_ms: float
    cloud_per_step_ms: float
    edge_per_step_ms: float
    per_inference_ms: float
    inference_ms: list[float]
    edge_memory_gib: float  # weights resident on the edge (GiB, 2**30 bytes)
    redundant_fraction: float


def _cloud_ms(b: dict[str, float]) -> float:
    return b.get("uplink_ms", 0.0) + b.get("cloud_ms", 0.0) + b.get("downlink_ms", 0.0)


def summarize_episode(
    arm: str, record: Any, runtime: Any, deployment: Any, perturbation: str
) -> EpisodeLatency:
    """Latency metrics of one finished episode from the runtime's inference log."""
    infs = runtime.inferences
    steps = max(record.steps, 1)
    total = [t.total_ms for t in infs]
    cloud = [_cloud_ms(t.breakdown_ms) for t in infs]
    edge = [t.breakdown_ms.get("edge_ms", 0.0) for t in infs]
    stats = runtime.episode_stats()
    return EpisodeLatency(
        arm=arm,
        suite=record.suite,
        task=record.task,
        perturbation=perturbation,
        init_state=record.init_state,
        seed=record.seed,
        success=bool(record.success),
        steps=record.steps,
        inferences=len(infs),
        cloud_calls=sum(1 for t in infs if t.breakdown_ms.get("cloud_ms", 0.0) > 0),
        preemptions=int(stats["preemptions"]),
        hold_steps=int(stats["hold_steps"]),
        per_step_ms=float(sum(total) / steps),
        cloud_per_step_ms=float(sum(cloud) / steps),
        edge_per_step_ms=float(sum(edge) / steps),
        per_inference_ms=float(np.mean(total)) if total else float("nan"),
        inference_ms=[float(x) for x in total],
        edge_memory_gib=deployment.edge_memory_bytes() / 2**30,
        redundant_fraction=float(stats.get("redundant_fraction", float("nan"))),
    )


def run_arm(
    arm: Arm,
    policy: Any,
    spec: DeploymentSpec,
    suite: str,
    tasks: list[str],
    init_states: int,
    perturbation: str = "standard",
    seed: int = 0,
    image_size: int = 128,
    max_episode_steps: int | None = None,
    num_wait_steps: int = 10,
    progress: Any = None,
) -> list[EpisodeLatency]:
    """Episodes ``init 0..init_states-1`` of every task under one arm, realtime world time."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    import envs
    from ecc.runtime import SimulatedRuntime
    from experiments.rollout import run_episode

    out: list[EpisodeLatency] = []
    # The env's time limit also counts the no-op wait steps; add them so the policy gets the limit.
    limit = (max_episode_steps or envs.episode_limit(suite)) + num_wait_steps
    for task in tasks:
        env = envs.make_env(
            suite, task, image_size=image_size, perturbation=perturbation, render=True,
            max_episode_steps=limit,
        )  # fmt: skip
        try:
            deployment = build_deployment(spec, arm.partition)
            runtime = SimulatedRuntime(policy, deployment, arm.make_scheduler(), mode="realtime")
            for k in range(init_states):
                deployment.seed = spec.seed + k  # fresh jitter draws per episode (reset reseeds)
                record = run_episode(
                    env, runtime, suite=suite, task=task, init_state=k, seed=seed + k,
                    num_wait_steps=num_wait_steps,
                )  # fmt: skip
                out.append(summarize_episode(arm.name, record, runtime, deployment, perturbation))
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix_str(f"{arm.name} {perturbation} {task} #{k}")
        finally:
            env.close()
    return out


def as_rows(episodes: list[EpisodeLatency]) -> list[dict[str, Any]]:
    return [asdict(e) for e in episodes]


def aggregate(episodes: list[EpisodeLatency]) -> dict[str, Any]:
    """Mean over episodes of the per-episode figures, plus p95 of per-step latency and Wilson CI."""
    from experiments.results import wilson_interval

    if not episodes:
        return {}
    per_step = np.asarray([e.per_step_ms for e in episodes])
    all_inf = np.asarray([x for e in episodes for x in e.inference_ms] or [np.nan])
    wins = sum(e.success for e in episodes)
    lo, hi = wilson_interval(wins, len(episodes))
    return {
        "episodes": len(episodes),
        "per_step_ms": float(per_step.mean()),
        "per_step_ms_std": float(per_step.std()),
        "per_step_ms_p95": float(np.percentile(per_step, 95)),
        "cloud_per_step_ms": float(np.mean([e.cloud_per_step_ms for e in episodes])),
        "edge_per_step_ms": float(np.mean([e.edge_per_step_ms for e in episodes])),
        "per_inference_ms": float(np.nanmean(all_inf)),
        "per_inference_ms_std": float(np.nanstd(all_inf)),
        "per_inference_ms_p95": float(np.nanpercentile(all_inf, 95)),
        "inferences_per_ep": float(np.mean([e.inferences for e in episodes])),
        "cloud_calls_per_ep": float(np.mean([e.cloud_calls for e in episodes])),
        "cloud_calls_per_100_steps": 100.0
        * sum(e.cloud_calls for e in episodes)
        / max(sum(e.steps for e in episodes), 1),
        "preemptions_per_ep": float(np.mean([e.preemptions for e in episodes])),
        "redundant_pct": 100.0 * float(np.nanmean([e.redundant_fraction for e in episodes])),
        "edge_memory_gib": float(np.mean([e.edge_memory_gib for e in episodes])),
        "success_pct": 100.0 * wins / len(episodes),
        "success_ci_lo_pct": 100.0 * lo,
        "success_ci_hi_pct": 100.0 * hi,
        "steps_per_ep": float(np.mean([e.steps for e in episodes])),
    }


def save_episodes(path: Path, episodes: list[EpisodeLatency]) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for e in episodes:
            f.write(json.dumps(asdict(e)) + "\n")
