"""A RAPID latency study as main-job runs: one ``experiments.run.evaluate`` per (perturbation, arm).

Every run composes the main job's config (``experiments.apps.compose_main``) from the study's
fields (``conf/rapid/study.yaml``) plus the arm's overrides (``experiments.rapid.arms``) and is
written to ``OUT/runs/<perturbation>/<arm>/``. The world sees OpenVLA-7B's modeled latency
(``runtime.latency=modeled`` on ``edge``/``cloud`` over ``network``) in ``realtime`` mode; episode
k of a task draws its jitter from ``seed + k`` (``runtime.episode_seeds``).

Per-episode figures are read back from each run's ``episodes.jsonl`` (``extra["episode_summary"]``,
``ecc.runtime.EpisodeSummary``, ms unless named otherwise); ``aggregate`` pools them per row.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from experiments.apps import compose_main
from experiments.rapid.arms import arm_overrides
from experiments.rapid.calibrate_failure_score import calibrate_inline
from experiments.rapid.reporting import SETTING_NOTES
from experiments.results import wilson_interval
from experiments.run import evaluate

log = logging.getLogger(__name__)

GIB = 2**30  # bytes


def main_overrides(cfg: DictConfig, perturbation: str) -> list[str]:
    """The main-job overrides every arm of the study shares (policy, budget, deployment)."""
    tasks = "null" if not cfg.tasks else "[" + ",".join(cfg.tasks) + "]"
    opt = lambda v: "null" if v is None else v  # noqa: E731
    return [
        f"policy={cfg.policy}",
        f"policy.checkpoint={cfg.checkpoint}",
        f"env={cfg.suite}",
        f"env.tasks={tasks}",
        f"env.image_size={cfg.image_size}",
        f"env.perturbation={perturbation}",
        "env.render=true",
        f"eval.max_tasks={opt(cfg.max_tasks)}",
        f"eval.init_states={cfg.episodes}",
        f"eval.max_episode_steps={opt(cfg.max_episode_steps)}",
        f"eval.num_wait_steps={cfg.num_wait_steps}",
        "eval.progress=false",
        "eval.video=false",
        f"seed={cfg.seed}",
        "logger=none",
        "quantization=none",
        "runtime=simulated",
        "runtime.mode=realtime",
        "runtime.latency=modeled",
        f"runtime.architecture={cfg.architecture}",
        f"runtime.precision={cfg.precision}",
        f"runtime.jitter={str(bool(cfg.jitter)).lower()}",
        f"runtime.seed={cfg.seed}",
        "runtime.episode_seeds=true",
        f"hardware@hardware.edge={cfg.edge}",
        f"hardware@hardware.cloud={cfg.cloud}",
        f"network={cfg.network}",
        *cfg.main_overrides,
    ]


def run_arm(
    cfg: DictConfig, arm: str, overrides: Sequence[str], perturbation: str = "standard"
) -> list[dict[str, Any]]:
    """Evaluate one arm under one perturbation; its episodes as flat rows (``episode_rows``)."""

    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering unless told otherwise
    run_dir = Path(cfg.out) / "runs" / perturbation / arm
    if run_dir.exists():  # episodes.jsonl appends: a stale run would be counted twice
        shutil.rmtree(run_dir)
    main_cfg = compose_main([*main_overrides(cfg, perturbation), *overrides])
    log.info("%s / %s -> %s", perturbation, arm, run_dir)
    evaluate(main_cfg, run_dir)
    return episode_rows(run_dir / "episodes.jsonl", arm, perturbation)


def episode_rows(path: Path, arm: str, perturbation: str) -> list[dict[str, Any]]:
    """One flat row per episode of a run: identity, success and its ``EpisodeSummary`` (ms)."""
    rows = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        s = rec["extra"]["episode_summary"]
        memory = s.get("edge_memory_bytes")
        red = s.get("redundant_fraction")
        rows.append(
            {
                "arm": arm,
                "suite": rec["suite"],
                "task": rec["task"],
                "perturbation": perturbation,
                "init_state": rec["init_state"],
                "seed": rec["seed"],
                "success": bool(rec["success"]),
                "steps": rec["steps"],
                **{k: s[k] for k in ("inferences", "cloud_calls", "preemptions", "hold_steps")},
                **{k: s[k] for k in ("per_step_ms", "cloud_per_step_ms", "edge_per_step_ms")},
                "per_inference_ms": s["per_inference_ms"],
                "inference_ms": s["inference_ms"],
                "edge_memory_gib": float("nan") if memory is None else memory / GIB,
                "redundant_fraction": float("nan") if red is None else red,
            }
        )
    return rows


def aggregate(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over episodes of the per-episode figures, plus p95 of per-step latency and Wilson CI."""
    if not episodes:
        return {}

    def mean(key: str) -> float:
        return float(np.mean([e[key] for e in episodes]))

    per_step = np.asarray([e["per_step_ms"] for e in episodes])
    all_inf = np.asarray([x for e in episodes for x in e["inference_ms"]] or [np.nan])
    wins = sum(e["success"] for e in episodes)
    lo, hi = wilson_interval(wins, len(episodes))
    steps = sum(e["steps"] for e in episodes)
    return {
        "episodes": len(episodes),
        "per_step_ms": float(per_step.mean()),
        "per_step_ms_std": float(per_step.std()),
        "per_step_ms_p95": float(np.percentile(per_step, 95)),
        "cloud_per_step_ms": mean("cloud_per_step_ms"),
        "edge_per_step_ms": mean("edge_per_step_ms"),
        "per_inference_ms": float(np.nanmean(all_inf)),
        "per_inference_ms_std": float(np.nanstd(all_inf)),
        "per_inference_ms_p95": float(np.nanpercentile(all_inf, 95)),
        "inferences_per_ep": mean("inferences"),
        "cloud_calls_per_ep": mean("cloud_calls"),
        "cloud_calls_per_100_steps": 100.0
        * sum(e["cloud_calls"] for e in episodes)
        / max(steps, 1),
        "preemptions_per_ep": mean("preemptions"),
        "redundant_pct": 100.0 * float(np.nanmean([e["redundant_fraction"] for e in episodes])),
        "edge_memory_gib": mean("edge_memory_gib"),
        "success_pct": 100.0 * wins / len(episodes),
        "success_ci_lo_pct": 100.0 * lo,
        "success_ci_hi_pct": 100.0 * hi,
        "steps_per_ep": mean("steps"),
    }


def save_episodes(path: Path, episodes: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for e in episodes:
            f.write(json.dumps(e) + "\n")


def policy_family(cfg: DictConfig) -> str:
    """The acting policy's family (``openvla``, ``pi0`` ...), read from its loaded checkpoint."""

    main = compose_main(main_overrides(cfg, "standard"))
    return str(instantiate(main.policy).policy.shape.family)


def prepare(cfg: DictConfig) -> tuple[str, dict[str, list[str]], str | None, list[str]]:
    """(policy label, arm -> overrides, failure-score calibration path, setting notes).

    Calibrates the failure score first when its arm runs without ``failure_calibration``.
    """
    label = f"trained:{cfg.checkpoint}"
    calib = cfg.failure_calibration
    notes = [SETTING_NOTES["tiny"], SETTING_NOTES["modeled"], SETTING_NOTES["thresholds"]]
    notes.append(
        f"Network preset {cfg.network!r}; triggered arms replan in the cloud and refill chunks "
        f"under partition {cfg.trigger_partition!r}."
    )
    if "failure_score" in cfg.arms and calib is None:
        calib, fallback_note = calibrate_inline(cfg)
        if fallback_note:
            notes.append(fallback_note)
    family = policy_family(cfg)
    arms = {
        name: arm_overrides(
            name, family, cfg.rapid_conf, calib, cfg.entropy_threshold, cfg.trigger_partition
        )
        for name in cfg.arms
    }
    return label, arms, calib, notes


def study_record(cfg: DictConfig, label: str, calib: str | None) -> dict[str, Any]:
    """The config part of a study's JSON record (fields, policy label, scheduler fields)."""

    fields = OmegaConf.to_container(cfg, resolve=True)
    for key in ("presets", "hydra"):
        fields.pop(key, None)
    rapid = compose_main([f"scheduler={cfg.rapid_conf}"]).scheduler
    fields.update(
        policy_label=label,
        failure_calibration=calib,
        rapid_fields=OmegaConf.to_container(rapid, resolve=True),
    )
    return fields
