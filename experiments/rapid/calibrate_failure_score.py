"""Calibrate the SAFE-style failure-score trigger on the acting policy's features.

    python -m experiments.tool tool=rapid_failure_score checkpoint=DIR suite=object episodes=5

Rolls the acting policy (blocking world time, chunk replay, no latency) with ``policy.features=true``
and keeps the ``features`` info field of every inference. The fit, the distance, the cross-fitted
threshold and the npz format are ``ecc.schedulers.safe``'s; this module only collects the
features and writes the npz and a JSON record. ``include_failures=true`` fits on every episode.
Old flags: --out X -> out=X (writes X/failure_score.npz), --foo-bar V -> foo_bar=V.

Why not ``experiments.run.evaluate``: the features of every inference are the product here, and a
main-job run reports no inference info. The policy, env and runtime are the main job's pieces.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

import envs
from ecc.runtime import ConstantLatency, SimulatedRuntime
from ecc.schedulers import QueueThreshold
from ecc.schedulers.safe import FailureCalibration, calibrate
from experiments.apps import compose_main
from experiments.rapid.errors import RapidExperimentError
from experiments.rapid.reporting import SETTING_NOTES, write_record
from experiments.rollout import run_episode

log = logging.getLogger(__name__)

Episode = tuple[str, int, bool, np.ndarray]  # task, init state, success, features [n, d]


class _Recorder:
    """Chunk policy that keeps the ``features`` of every inference of the current episode."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.shape = policy.shape
        self.features: list[np.ndarray] = []

    def reset(self, language: str | None = None) -> None:
        self.features = []
        self.policy.reset(language)

    def predict_action_chunk(self, obs: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        chunk, info = self.policy.predict_action_chunk(obs)
        if "features" in info:
            self.features.append(np.asarray(info["features"], dtype=np.float64))
        return chunk, info


def collect_features(
    cfg: DictConfig,
    tasks: Sequence[str],
    episodes: int,
    seed: int,
    progress: bool = True,
) -> list[Episode]:
    """(task, init state, success, features [n, d]) per episode; blocking world time, chunk replay.

    ``cfg`` carries the study fields (policy, checkpoint, suite, image_size, max_episode_steps,
    num_wait_steps). Episode k of a task uses init state k and seed ``seed + k``.
    """
    main = compose_main(
        [f"policy={cfg.policy}", f"policy.checkpoint={cfg.checkpoint}", "policy.features=true"]
    )
    rec = _Recorder(instantiate(main.policy).policy)
    runtime = SimulatedRuntime(rec, ConstantLatency(0.0), QueueThreshold(0.0), mode="blocking")
    out = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks) * episodes, desc="feature episodes", unit="ep", file=sys.stderr)
    for task in tasks:
        # The limit here has never counted the wait steps (the studies' runs do); kept as it was.
        env = envs.make_env(
            cfg.suite, task, image_size=cfg.image_size, render=True,
            max_episode_steps=cfg.max_episode_steps,
        )  # fmt: skip
        try:
            for k in range(episodes):
                r = run_episode(
                    env, runtime, suite=cfg.suite, task=task, init_state=k, seed=seed + k,
                    num_wait_steps=cfg.num_wait_steps,
                )  # fmt: skip
                feats = np.stack(rec.features) if rec.features else np.zeros((0, 0))
                out.append((task, k, bool(r.success), feats))
                if bar is not None:
                    bar.update(1)
        finally:
            env.close()
    if bar is not None:
        bar.close()
    return out


def calibrate_from_episodes(
    episodes: Sequence[Episode], include_failures: bool, percentile: float, ridge: float
) -> FailureCalibration:
    """The calibration of the successful episodes (every episode with ``include_failures``)."""
    chosen = [f for _, _, ok, f in episodes if (ok or include_failures) and len(f) >= 1]
    if sum(len(f) for f in chosen) < 2:
        wins = sum(ok for _, _, ok, _ in episodes)
        raise RapidExperimentError(
            "episodes",
            f"{wins} successful of {len(episodes)}",
            "successful episodes with at least 2 inferences in all (or include_failures=true)",
        )
    calib, cross_fitted = calibrate(chosen, percentile, ridge)
    if not cross_fitted:
        log.warning("one episode only: in-sample threshold (biased low; collect more episodes)")
    return calib


def study_tasks(cfg: DictConfig) -> list[str]:
    """The study's tasks: ``cfg.tasks`` (all of the suite when empty), the first ``max_tasks``."""
    if cfg.suite not in envs.list_suites():
        raise RapidExperimentError("suite", cfg.suite, envs.list_suites())
    allowed = envs.list_tasks(cfg.suite)
    chosen = list(cfg.tasks) if cfg.tasks else list(allowed)
    for t in chosen:
        if t not in allowed:
            raise RapidExperimentError("tasks", t, allowed)
    return chosen[: cfg.get("max_tasks")]


def calibrate_inline(cfg: DictConfig) -> tuple[str, str | None]:
    """A study's own calibration (``failure_episodes`` per task, seeds from ``seed + 1000``).

    Returns the npz path under ``cfg.out`` and a note when no episode succeeded and the fit had to
    take every episode.
    """
    log.info("calibrating the failure score on %d episode(s) per task", cfg.failure_episodes)
    eps = collect_features(cfg, study_tasks(cfg), cfg.failure_episodes, cfg.seed + 1000)
    note = None
    if not any(ok for _, _, ok, _ in eps):
        note = (
            f"The failure score was fitted on ALL {len(eps)} calibration episodes: the "
            "checkpoint succeeded in none of them (raise failure_episodes)."
        )
        log.warning(note)
    cal = calibrate_from_episodes(eps, note is not None, percentile=95.0, ridge=0.1)
    return str(cal.save(Path(cfg.out) / "failure_score.npz")), note


def run(cfg: DictConfig) -> float:
    """The tool: calibrate on ``episodes`` per task; writes failure_score.npz and .json."""
    out = Path(cfg.out) / "failure_score.npz"
    eps = collect_features(cfg, study_tasks(cfg), cfg.episodes, cfg.seed)
    calib = calibrate_from_episodes(eps, cfg.include_failures, cfg.percentile, cfg.ridge)
    calib.save(out)
    notes = [SETTING_NOTES["tiny"]]
    if cfg.include_failures:
        notes.append("Fitted on ALL episodes (include_failures=true), not only successful ones.")
    episodes = [
        {"task": t, "init_state": k, "success": ok, "inferences": len(f)} for t, k, ok, f in eps
    ]
    results = {
        "threshold": calib.threshold,
        "n_features": calib.n,
        "dim": int(calib.mean.size),
        "episodes": episodes,
    }
    write_record(out.with_suffix(".json"), {"checkpoint": cfg.checkpoint}, results, notes)
    wins = sum(ok for _, _, ok, _ in eps)
    print(
        f"failure score: threshold {calib.threshold:.3f} (p{cfg.percentile:g}) from {calib.n} "
        f"features of dim {calib.mean.size}; {wins}/{len(eps)} episodes successful"
    )
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return float(calib.threshold)


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("tool", "rapid_failure_score")
