"""Bidirectional decoding (BID, Liu et al. 2024): sample several chunks, keep the most coherent."""

from __future__ import annotations

from typing import Any

import numpy as np

from ecc.errors import InvalidValueError
from ecc.executors.base import SAMPLING_FAMILIES, find_method
from ecc.executors.sync import AsyncExecutor


class BidExecutor(AsyncExecutor):
    """Async requests (``fraction`` / ``adaptive`` as ``async``); each request samples ``samples``
    chunks in one batched forward and keeps the one with the lowest

    - backward coherence: mean squared distance to the committed actions (the queue at the
      request) over the timesteps both cover, weighted ``decay**i`` from the first;
    - forward contrast, simplified: BID contrasts each candidate with the samples of a strong
      policy (positives) and a weak one (negatives); there is no weak checkpoint here, so the
      forward term is the mean squared distance to the other samples only (the candidate
      nearest the mode of the strong policy's samples), ``contrast`` its weight.

    Flow and diffusion families only (the others give one chunk per observation).
    """

    name = "bid"
    families = SAMPLING_FAMILIES
    why_overlap = "no committed action overlaps the next chunk; only the forward term is left"

    def __init__(
        self,
        samples: int = 8,
        fraction: float = 0.5,
        adaptive: bool = True,
        decay: float = 0.9,
        contrast: float = 1.0,
    ) -> None:
        super().__init__(fraction=fraction, adaptive=adaptive)
        self.name = "bid"
        if int(samples) < 2:
            raise InvalidValueError("executor.samples", samples, "an int >= 2")
        if not 0.0 < float(decay) <= 1.0:
            raise InvalidValueError("executor.decay", decay, "a float in (0, 1]")
        self.samples, self.decay, self.contrast = int(samples), float(decay), float(contrast)

    def generate(
        self, policy: Any, obs: dict[str, Any], committed: np.ndarray
    ) -> tuple[np.ndarray, dict[str, Any]]:
        sample = find_method(policy, "sample_action_chunks")
        chunks, info = sample(obs, self.samples)
        scores = bid_scores(chunks, committed, self.decay, self.contrast)
        best = int(np.argmin(scores))
        norm = info.get("actions_normalized")
        out = {"infer_ms": info.get("infer_ms"), "bid_scores": scores, "bid_choice": best}
        if norm is not None:
            out["actions_normalized"] = norm[best]
        return chunks[best], out


def bid_scores(
    chunks: np.ndarray, committed: np.ndarray, decay: float, contrast: float
) -> np.ndarray:
    """BID's loss per candidate (lower is better): backward coherence + contrast * forward term.

    ``chunks`` [K, H, A]; ``committed`` [q, A], row i for the same timestep as the candidates'
    row i (both start at the request step).
    """
    k, h, _ = chunks.shape
    n = min(len(committed), h)
    backward = np.zeros(k)
    if n:
        w = decay ** np.arange(n)
        sq = ((chunks[:, :n] - committed[None, :n]) ** 2).mean(-1)  # [K, n]
        backward = (sq * w).sum(1) / w.sum()
    pair = ((chunks[:, None] - chunks[None, :]) ** 2).mean((-1, -2))  # [K, K]
    forward = pair.sum(1) / max(k - 1, 1)
    return backward + contrast * forward
