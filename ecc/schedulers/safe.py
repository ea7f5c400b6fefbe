"""SAFE-style failure score: a Gaussian over policy features of successful rollouts.

``fit`` estimates ``mean`` and a regularised inverse covariance ``precision = inv(cov + ridge *
trace(cov)/d * I)`` and sets ``threshold`` to a percentile of the fitted rows' Mahalanobis
distances (unitless). ``calibrate`` fits on the features of the chosen episodes and, with two or
more, cross-fits the threshold (distances of held-out episodes under a fit on the others), since
in-sample distances of 128-d features from a few dozen samples are biased low.

File format (``FailureCalibration.save`` / ``load``): an npz with ``mean`` [d], ``precision``
[d, d], ``threshold``, ``percentile``, ``ridge`` (float64) and ``n`` (rows fitted, int64).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecc.errors import InvalidValueError


@dataclass
class FailureCalibration:
    """The fitted Gaussian and the distance above which a step counts as off-distribution."""

    mean: np.ndarray  # [d]
    precision: np.ndarray  # [d, d]
    threshold: float  # Mahalanobis distance (unitless)
    percentile: float  # of the calibration distances, in (0, 100]
    ridge: float  # shrinkage, times the mean eigenvalue of the covariance
    n: int  # feature rows fitted

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance [n] of feature rows [n, d] (or one row [d]) to the mean."""
        d = np.atleast_2d(np.asarray(features, dtype=np.float64)) - self.mean
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, self.precision, d), 0.0))

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path, mean=self.mean, precision=self.precision, threshold=np.float64(self.threshold),
            percentile=np.float64(self.percentile), ridge=np.float64(self.ridge), n=np.int64(self.n),
        )  # fmt: skip
        return path

    @classmethod
    def load(cls, path: str | Path) -> FailureCalibration:
        p = Path(path)
        if not p.is_file():
            raise InvalidValueError("scheduler.calibration", str(p), "an existing .npz file")
        with np.load(p, allow_pickle=False) as data:
            return cls(
                mean=data["mean"].astype(np.float64),
                precision=data["precision"].astype(np.float64),
                threshold=float(data["threshold"]),
                percentile=float(data["percentile"]) if "percentile" in data else float("nan"),
                ridge=float(data["ridge"]) if "ridge" in data else float("nan"),
                n=int(data["n"]) if "n" in data else 0,
            )


def fit(features: np.ndarray, percentile: float = 95.0, ridge: float = 0.1) -> FailureCalibration:
    """Gaussian fit with ridge ``ridge * mean eigenvalue`` on the diagonal; threshold at a percentile."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InvalidValueError("features", tuple(x.shape), "[n >= 2, d] feature rows")
    if not 0.0 < percentile <= 100.0:
        raise InvalidValueError("percentile", percentile, "a percentile in (0, 100]")
    if ridge <= 0.0:
        raise InvalidValueError("ridge", ridge, "a positive shrinkage factor")
    mean = x.mean(0)
    cov = np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])
    scale = max(float(np.trace(cov)) / x.shape[1], 1e-12)
    precision = np.linalg.inv(cov + ridge * scale * np.eye(x.shape[1]))
    calib = FailureCalibration(mean, precision, 0.0, percentile, ridge, int(x.shape[0]))
    calib.threshold = float(np.percentile(calib.distance(x), percentile))
    return calib


def cross_fitted_threshold(
    groups: Sequence[np.ndarray], percentile: float, ridge: float, folds: int = 2
) -> float:
    """Percentile of out-of-fold distances: fit on the other episodes, score the held-out ones."""
    k = min(folds, len(groups))
    held: list[np.ndarray] = []
    for f in range(k):
        train = [g for i, g in enumerate(groups) if i % k != f]
        test = [g for i, g in enumerate(groups) if i % k == f]
        held.append(fit(np.concatenate(train), percentile, ridge).distance(np.concatenate(test)))
    return float(np.percentile(np.concatenate(held), percentile))


def calibrate(
    episodes: Sequence[np.ndarray], percentile: float = 95.0, ridge: float = 0.1
) -> tuple[FailureCalibration, bool]:
    """Fit on every episode's features [n_k, d]; (calibration, whether the threshold is cross-fitted).

    The threshold is cross-fitted over two folds of episodes when each fold has two rows or more;
    otherwise it stays in-sample (biased low: collect more episodes).
    """
    chosen = [np.asarray(f, dtype=np.float64) for f in episodes if len(f) >= 1]
    if sum(len(f) for f in chosen) < 2:
        raise InvalidValueError(
            "episodes", f"{len(chosen)} with features", "at least 2 feature rows in all"
        )
    calib = fit(np.concatenate(chosen), percentile, ridge)
    cross = len(chosen) >= 2 and all(
        sum(len(g) for i, g in enumerate(chosen) if i % 2 != f) >= 2 for f in range(2)
    )
    if cross:
        calib.threshold = cross_fitted_threshold(chosen, percentile, ridge)
    return calib, cross
