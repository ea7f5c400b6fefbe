"""The policy feature SAFE-style failure scores read: the prefill's final LLM hidden state.

``capture_features(model)`` hooks the first ``llm.norm`` call of a forward (the prefill; later
calls are per decoded token) and returns its output averaged over positions [hidden] (float32).
pi0's action expert reads the prefix's per-layer KV and never runs ``llm.norm``; there the
prefill's last decoder layer output stands in (same positions, before the norm).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from agents.errors import AgentsError


class FeatureCapture:
    """What one forward exposed; ``value()`` is the feature [hidden] or None if neither hook ran."""

    def __init__(self) -> None:
        self.norm: list[torch.Tensor] = []
        self.last_layer: list[torch.Tensor] = []

    def value(self) -> np.ndarray | None:
        seen = self.norm or self.last_layer
        if not seen:
            return None
        h = seen[0].float()
        return h.reshape(-1, h.shape[-1]).mean(0).cpu().numpy()


@contextmanager
def capture_features(model: Any) -> Iterator[FeatureCapture]:
    """Hook ``model.llm`` for the duration of one forward (the hooks do not change outputs)."""
    llm = getattr(model, "llm", None)
    norm = getattr(llm, "norm", None)
    if norm is None or not len(getattr(llm, "layers", ())):
        raise AgentsError(
            f"policy.features=true needs a StagedVLA with llm.norm and llm.layers; "
            f"got {type(model).__name__}; allowed with it: policy.features=false"
        )
    cap = FeatureCapture()

    def on_norm(module: torch.nn.Module, args: Any, output: torch.Tensor) -> None:
        if not cap.norm:
            cap.norm.append(output.detach())

    def on_layer(module: torch.nn.Module, args: Any, output: Any) -> None:
        if not cap.last_layer:  # a Block returns (hidden, k, v)
            cap.last_layer.append(output[0].detach())

    handles = [norm.register_forward_hook(on_norm), llm.layers[-1].register_forward_hook(on_layer)]
    try:
        yield cap
    finally:
        for h in handles:
            h.remove()
