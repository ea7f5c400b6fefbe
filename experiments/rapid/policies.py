"""Acting policies for the latency studies: a trained checkpoint, or a random-weight tiny one for plumbing.

``FeaturePolicy`` wraps a ``VLAPolicy`` and adds ``features`` to the info of every inference: the
final LLM norm output of the prefill (the first ``llm.norm`` call of a forward), averaged over its
positions, captured with a forward hook. That is the vector SAFE-style failure scores read.
pi0's action expert reads the prefix's per-layer KV and never runs ``llm.norm``; there the
prefill's last decoder layer output stands in (same positions, before the norm).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import torch

from experiments.rapid.errors import RapidExperimentError

log = logging.getLogger(__name__)


class FeaturePolicy:
    """A chunk policy whose info carries ``features`` [hidden] (float32) besides the wrapped info."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.shape = policy.shape
        self._captured: list[torch.Tensor] = []
        self._last_layer: list[torch.Tensor] = []
        llm = getattr(policy.model, "llm", None)
        norm = getattr(llm, "norm", None)
        if norm is None or not len(getattr(llm, "layers", ())):
            raise RapidExperimentError(
                "policy", type(policy.model).__name__, "a StagedVLA with llm.norm and llm.layers"
            )
        self._handles = [
            norm.register_forward_hook(self._hook),
            llm.layers[-1].register_forward_hook(self._layer_hook),
        ]

    def _hook(self, module: torch.nn.Module, args: Any, output: torch.Tensor) -> None:
        if not self._captured:  # the prefill's call; later calls are per decoded token
            self._captured.append(output.detach())

    def _layer_hook(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if not self._last_layer:  # Block returns (hidden, k, v)
            self._last_layer.append(output[0].detach())

    def reset(self, language: str | None = None) -> None:
        self.policy.reset(language)

    def predict_action_chunk(self, obs: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        self._captured.clear()
        self._last_layer.clear()
        chunk, info = self.policy.predict_action_chunk(obs)
        seen = self._captured or self._last_layer
        if seen:
            h = seen[0].float()
            info["features"] = h.reshape(-1, h.shape[-1]).mean(0).cpu().numpy()
        return chunk, info

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def random_tiny_policy(
    shape_name: str = "openvla-tiny", chunk: int = 8, seed: int = 0, init_std: float = 0.05
) -> Any:
    """An UNTRAINED tiny VLA (random weights, ``chunk`` actions per inference) for plumbing runs."""
    import envs
    from agents.normalize import NormStats
    from agents.policy import PolicyConfig, VLAPolicy
    from agents.tokenizer import WordTokenizer
    from agents.zoo import TINY_SHAPES, build_model, get_shape, text_vocab_size

    if shape_name not in TINY_SHAPES:
        raise RapidExperimentError("shape", shape_name, list(TINY_SHAPES))
    if chunk <= 0:
        raise RapidExperimentError("chunk", chunk, "a positive integer")
    base = get_shape(shape_name)
    shape = dataclasses.replace(base, head=dataclasses.replace(base.head, chunk=chunk))
    torch.manual_seed(seed)
    model = build_model(shape)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, init_std)
    instructions = [
        envs.get_task(s, t).language for s in envs.list_suites() for t in envs.list_tasks(s)
    ]
    tok = WordTokenizer.build(instructions, capacity=text_vocab_size(shape))
    rng = np.random.default_rng(seed)
    stats = NormStats.from_data(
        rng.uniform(-0.5, 0.5, (100, 7)), rng.normal(size=(100, shape.proprio_dim or 9))
    )
    return VLAPolicy(model, tok, stats, PolicyConfig())


def acting_policy(
    checkpoint: str | None, shape_name: str = "openvla-tiny", chunk: int = 8, seed: int = 0
) -> tuple[FeaturePolicy, str]:
    """(policy with features, label): ``trained:<path>`` from a checkpoint, else ``untrained``."""
    if checkpoint:
        from agents.policy import load_policy

        return FeaturePolicy(load_policy(checkpoint)), f"trained:{checkpoint}"
    log.warning("no --checkpoint: acting with an UNTRAINED random %s (chunk %d)", shape_name, chunk)
    return FeaturePolicy(random_tiny_policy(shape_name, chunk, seed)), "untrained"
