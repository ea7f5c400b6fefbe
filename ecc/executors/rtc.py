"""Real-Time Chunking (Black, Galliker, Levine 2025, arXiv 2506.07339) for flow and diffusion heads."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ecc.errors import InvalidValueError
from ecc.executors.base import SAMPLING_FAMILIES, find_method
from ecc.executors.sync import AsyncExecutor


def prefix_weights(delay: int, overlap_end: int, horizon: int) -> np.ndarray:
    """RTC's soft mask [horizon]: 1 for the ``delay`` frozen steps, exponential decay over the
    overlap ``delay <= i < overlap_end`` (``c_i (e^c_i - 1) / (e - 1)``, ``c_i = (overlap_end - i)
    / (overlap_end - delay + 1)``), 0 from ``overlap_end`` on (paper eq. 5; H - s = overlap_end)."""
    w = np.zeros(horizon, dtype=np.float32)
    end = min(max(overlap_end, 0), horizon)
    d = min(max(delay, 0), end)
    w[:d] = 1.0
    for i in range(d, end):
        c = (end - i) / (end - d + 1)
        w[i] = c * (math.exp(c) - 1.0) / (math.e - 1.0)
    return w


class RtcExecutor(AsyncExecutor):
    """Async requests; each next chunk is inpainted on the committed actions by guided sampling.

    At a request the queue holds q committed actions (row i runs at the request step + i). The
    first d = min(delay estimate, q) of them execute before the chunk lands: they are frozen
    (weight 1); the rest of the queue is the overlap, guided with decaying weight; rows past the
    queue are free. The flow (pi0) or DDIM (cogact) sampler is guided with weight clipped at
    ``max_guidance_weight`` (``agents`` ``guided_forward``); no retraining. Valid for d <= H - s:
    the executor warns once when d >= H. An empty queue (the first request) samples unguided.
    The autoregressive families are refused: their token decoder has no continuous sample to
    guide (forcing committed tokens as a prefix is not implemented).
    """

    name = "rtc"
    families = SAMPLING_FAMILIES
    why_overlap = "every committed action runs before the chunk lands; nothing is left to inpaint"

    def __init__(
        self, fraction: float = 0.5, adaptive: bool = True, max_guidance_weight: float = 10.0
    ) -> None:
        super().__init__(fraction=fraction, adaptive=adaptive)
        self.name = "rtc"
        if not float(max_guidance_weight) > 0:
            raise InvalidValueError("executor.max_guidance_weight", max_guidance_weight, "> 0")
        self.max_guidance_weight = float(max_guidance_weight)

    def family_why(self) -> str:
        return "guided inpainting needs a flow or diffusion sampler; token decoding has none"

    def generate(
        self, policy: Any, obs: dict[str, Any], committed: np.ndarray
    ) -> tuple[np.ndarray, dict[str, Any]]:
        guided = find_method(policy, "predict_action_chunk_guided")
        shape = getattr(getattr(guided, "__self__", None), "shape", None)
        if len(committed) == 0 or guided is None or shape is None:
            return policy.predict_action_chunk(obs)
        h, a = shape.head.chunk, shape.head.action_dim
        q = min(len(committed), h)
        target = np.zeros((h, a), dtype=np.float32)
        target[:q] = committed[:q]
        weights = prefix_weights(self.delay_estimate, q, h)
        chunk, info = guided(obs, target, weights, self.max_guidance_weight)
        return chunk, {**info, "rtc_frozen": int(min(self.delay_estimate, q)), "rtc_overlap": q}
