"""Calibrate the SAFE-style failure-score trigger: a Gaussian over policy features of successful rollouts.

    python -m experiments.rapid.calibrate_failure_score --checkpoint DIR --suite object --episodes 5

Rolls the acting policy (blocking world time, chunk replay, no latency) and keeps the feature of every
inference (``FeaturePolicy``: final LLM norm output of the prefill). Fits ``mean`` and a regularised
inverse covariance ``precision = inv(cov + ridge * trace(cov)/d * I)`` on the features of SUCCESSFUL
episodes, and sets ``threshold`` to the ``--percentile`` of their Mahalanobis distances. Writes an npz
(mean, precision, threshold, percentile, ridge, n) for ``ecc.schedulers.FailureScoreTrigger`` and a
JSON record. ``--include-failures`` fits on every episode (the only option for an untrained policy).
With two or more episodes the threshold is cross-fitted (distances of held-out episodes under a fit on
the others), since in-sample distances of 128-d features from a few dozen samples are biased low.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.rapid.errors import RapidExperimentError
from experiments.rapid.policies import FeaturePolicy, acting_policy
from experiments.rapid.reporting import SETTING_NOTES, write_record

log = logging.getLogger(__name__)


@dataclass
class FailureCalibration:
    mean: np.ndarray  # [d]
    precision: np.ndarray  # [d, d]
    threshold: float  # Mahalanobis distance (unitless)
    percentile: float
    ridge: float
    n: int

    def distance(self, features: np.ndarray) -> np.ndarray:
        d = np.atleast_2d(features) - self.mean
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, self.precision, d), 0.0))

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path, mean=self.mean, precision=self.precision, threshold=np.float64(self.threshold),
            percentile=np.float64(self.percentile), ridge=np.float64(self.ridge), n=np.int64(self.n),
        )  # fmt: skip
        return path


def fit(features: np.ndarray, percentile: float = 95.0, ridge: float = 0.1) -> FailureCalibration:
    """Gaussian fit with ridge ``ridge * mean eigenvalue`` on the diagonal; threshold at a percentile."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise RapidExperimentError("features", tuple(x.shape), "[n >= 2, d] feature rows")
    if not 0.0 < percentile <= 100.0:
        raise RapidExperimentError("percentile", percentile, "a percentile in (0, 100]")
    if ridge <= 0.0:
        raise RapidExperimentError("ridge", ridge, "a positive shrinkage factor")
    mean = x.mean(0)
    cov = np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])
    scale = max(float(np.trace(cov)) / x.shape[1], 1e-12)
    precision = np.linalg.inv(cov + ridge * scale * np.eye(x.shape[1]))
    calib = FailureCalibration(mean, precision, 0.0, percentile, ridge, int(x.shape[0]))
    calib.threshold = float(np.percentile(calib.distance(x), percentile))
    return calib


class _Recorder:
    """Chunk policy that keeps the feature of every inference of the current episode."""

    def __init__(self, policy: FeaturePolicy) -> None:
        self.policy = policy
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
    policy: FeaturePolicy,
    suite: str,
    tasks: list[str],
    episodes: int,
    seed: int = 0,
    image_size: int = 128,
    max_episode_steps: int | None = None,
    progress: bool = True,
    num_wait_steps: int = 10,
) -> list[tuple[str, int, bool, np.ndarray]]:
    """(task, init state, success, features [n, d]) per episode; blocking world time, chunk replay."""
    import envs
    from ecc.runtime import ConstantLatency, SimulatedRuntime
    from ecc.schedulers import QueueThreshold
    from experiments.rollout import run_episode

    rec = _Recorder(policy)
    runtime = SimulatedRuntime(rec, ConstantLatency(0.0), QueueThreshold(0.0), mode="blocking")
    out = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks) * episodes, desc="feature episodes", unit="ep", file=sys.stderr)
    for task in tasks:
        env = envs.make_env(
            suite, task, image_size=image_size, render=True, max_episode_steps=max_episode_steps
        )
        try:
            for k in range(episodes):
                r = run_episode(
                    env, runtime, suite=suite, task=task, init_state=k, seed=seed + k,
                    num_wait_steps=num_wait_steps,
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


def cross_fitted_threshold(
    groups: list[np.ndarray], percentile: float, ridge: float, folds: int = 2
) -> float:
    """Percentile of out-of-fold distances: fit on the other episodes, score the held-out ones.

    In-sample Mahalanobis distances are biased low when features outnumber samples (128-d features,
    a few dozen inferences per episode), so an in-sample threshold would flag nearly every new step.
    """
    k = min(folds, len(groups))
    held: list[np.ndarray] = []
    for f in range(k):
        train = [g for i, g in enumerate(groups) if i % k != f]
        test = [g for i, g in enumerate(groups) if i % k == f]
        held.append(fit(np.concatenate(train), percentile, ridge).distance(np.concatenate(test)))
    return float(np.percentile(np.concatenate(held), percentile))


def calibrate_from_episodes(
    episodes: list[tuple[str, int, bool, np.ndarray]],
    include_failures: bool,
    percentile: float,
    ridge: float,
) -> FailureCalibration:
    """Fit on all chosen episodes; threshold cross-fitted over episodes when there are two or more."""
    chosen = [f for _, _, ok, f in episodes if (ok or include_failures) and len(f) >= 1]
    if not chosen or sum(len(f) for f in chosen) < 2:
        wins = sum(ok for _, _, ok, _ in episodes)
        raise RapidExperimentError(
            "episodes",
            f"{wins} successful of {len(episodes)}",
            "successful episodes with at least 2 inferences in all (or --include-failures)",
        )
    calib = fit(np.concatenate(chosen), percentile, ridge)
    if len(chosen) >= 2 and all(
        sum(len(g) for i, g in enumerate(chosen) if i % 2 != f) >= 2 for f in range(2)
    ):
        calib.threshold = cross_fitted_threshold(chosen, percentile, ridge)
    else:
        log.warning("one episode only: in-sample threshold (biased low; collect more episodes)")
    return calib


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--checkpoint", default=None, help="policy checkpoint dir (none: UNTRAINED random)"
    )
    p.add_argument("--shape", default="openvla-tiny", help="tiny shape when no checkpoint")
    p.add_argument("--chunk", type=int, default=8, help="chunk of the untrained policy")
    p.add_argument("--suite", default="object")
    p.add_argument("--tasks", nargs="*", default=None)
    p.add_argument("--episodes", type=int, default=5, help="init states per task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--max-episode-steps", type=int, default=None)
    p.add_argument("--percentile", type=float, default=95.0)
    p.add_argument("--ridge", type=float, default=0.1, help="x mean eigenvalue on the diagonal")
    p.add_argument("--include-failures", action="store_true")
    p.add_argument("--out", type=Path, default=Path("outputs/rapid/failure_score.npz"))
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> FailureCalibration:
    import torch

    from experiments.rapid.kinematics import check_tasks

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    a = parse_args(argv)
    tasks = check_tasks(a.suite, a.tasks)
    policy, label = acting_policy(a.checkpoint, a.shape, a.chunk, a.seed)
    eps = collect_features(
        policy, a.suite, tasks, a.episodes, a.seed, a.image_size, a.max_episode_steps,
        not a.no_progress,
    )  # fmt: skip
    calib = calibrate_from_episodes(eps, a.include_failures, a.percentile, a.ridge)
    calib.save(a.out)
    notes = [SETTING_NOTES["untrained" if label == "untrained" else "tiny"]]
    if a.include_failures:
        notes.append("Fitted on ALL episodes (--include-failures), not only successful ones.")
    write_record(
        a.out.with_suffix(".json"),
        {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()}, "policy": label},
        {
            "threshold": calib.threshold,
            "n_features": calib.n,
            "dim": int(calib.mean.size),
            "episodes": [
                {"task": t, "init_state": k, "success": ok, "inferences": len(f)}
                for t, k, ok, f in eps
            ],
        },
        notes,
    )
    wins = sum(ok for _, _, ok, _ in eps)
    print(
        f"failure score: threshold {calib.threshold:.3f} (p{a.percentile:g}) from {calib.n} features "
        f"of dim {calib.mean.size}; {wins}/{len(eps)} episodes successful; policy {label}"
    )
    print(f"wrote {a.out} and {a.out.with_suffix('.json')}")
    return calib


if __name__ == "__main__":
    main()
