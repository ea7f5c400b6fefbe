"""Action and proprio normalisation with stored statistics.

Actions use OpenVLA's bounds: per-dimension 1st/99th percentiles (q01/q99) map to
[-1, 1] (values outside are clipped); dimensions with ``mask`` False (the gripper by
default, already +-1) pass through unchanged, and dimensions with q99 == q01 map to 0.
Proprio uses mean/std (std floored at ``eps``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from agents.errors import CheckpointError


@dataclass
class NormStats:
    """Statistics of actions [7] and proprio [P] (plain lists so they round-trip through JSON)."""

    action_q01: list[float]
    action_q99: list[float]
    action_mask: list[bool]
    proprio_mean: list[float]
    proprio_std: list[float]
    action_mean: list[float] | None = None
    action_std: list[float] | None = None
    eps: float = 1e-6

    @classmethod
    def from_data(
        cls, actions: np.ndarray, proprio: np.ndarray, mask: list[bool] | None = None
    ) -> NormStats:
        """actions [N, A], proprio [N, P]; default mask normalises all but the last (gripper) dim."""
        a = np.asarray(actions, dtype=np.float64)
        p = np.asarray(proprio, dtype=np.float64)
        if mask is None:
            mask = [True] * (a.shape[1] - 1) + [False]
        return cls(
            action_q01=np.quantile(a, 0.01, axis=0).tolist(),
            action_q99=np.quantile(a, 0.99, axis=0).tolist(),
            action_mask=[bool(m) for m in mask],
            proprio_mean=p.mean(0).tolist(),
            proprio_std=p.std(0).tolist(),
            action_mean=a.mean(0).tolist(),
            action_std=a.std(0).tolist(),
        )

    def normalize_actions(self, a: np.ndarray) -> np.ndarray:
        lo, hi, m = np.array(self.action_q01), np.array(self.action_q99), np.array(self.action_mask)
        span = hi - lo
        safe = np.where(span > self.eps, span, 1.0)
        n = np.where(span > self.eps, 2.0 * (a - lo) / safe - 1.0, 0.0)
        return np.where(m, np.clip(n, -1.0, 1.0), a).astype(np.float32)

    def unnormalize_actions(self, n: np.ndarray) -> np.ndarray:
        lo, hi, m = np.array(self.action_q01), np.array(self.action_q99), np.array(self.action_mask)
        a = 0.5 * (np.clip(n, -1.0, 1.0) + 1.0) * (hi - lo) + lo
        return np.where(m, a, n).astype(np.float32)

    def normalize_proprio(self, p: np.ndarray) -> np.ndarray:
        mean, std = np.array(self.proprio_mean), np.array(self.proprio_std)
        return ((p - mean) / np.maximum(std, self.eps)).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, action_dim: int, proprio_dim: int) -> NormStats:
        """Rebuild and check lengths; raises CheckpointError naming the bad field."""
        required = ("action_q01", "action_q99", "action_mask", "proprio_mean", "proprio_std")
        for key in required:
            if key not in d:
                raise CheckpointError(
                    f"normalisation stats lack {key!r}; required: {list(required)}"
                )
        for key, n in (
            ("action_q01", action_dim),
            ("action_q99", action_dim),
            ("action_mask", action_dim),
            ("proprio_mean", proprio_dim),
            ("proprio_std", proprio_dim),
        ):
            if len(d[key]) != n:
                raise CheckpointError(
                    f"normalisation stats {key} has {len(d[key])} values; allowed: {n}"
                )
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
