"""OFT-style family: one parallel LLM pass over learned action queries, then an L1 regression head.

Sequence: ``[prefix, chunk*action_dim action queries]``. The prefix is causal; every
action query attends to the whole prefix and to all action queries (bidirectional
block, as OpenVLA-OFT's parallel decoding). OFT feeds zero embeddings at the action
positions; we use learned queries (same cost, easier to train from scratch).
The head (MLPResNet) maps the ``action_dim`` hidden states of each chunk step,
concatenated, to that step's action.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from agents.layers import MLPResNet
from agents.models.base import StagedVLA
from agents.shapes import VLAShape
from agents.staged import BoundaryState, StageSpec


class OFTModel(StagedVLA):
    """Parallel-decoding continuous-chunk VLA (OpenVLA-OFT layout)."""

    family = "oft"

    def __init__(self, shape: VLAShape, device: torch.device | None = None) -> None:
        super().__init__(shape, device)
        h = shape.head
        in_dim = h.action_dim * shape.llm.hidden
        if h.mlp_hidden:
            self.action_head: nn.Module = MLPResNet(
                in_dim, h.mlp_hidden, h.action_dim, h.mlp_blocks, device
            )
        else:
            self.action_head = nn.Linear(in_dim, h.action_dim, device=device)

    def n_extra_tokens(self) -> int:
        return self.shape.head.chunk * self.shape.head.action_dim

    def prefill_mask(self, device: torch.device) -> torch.Tensor:
        s = self.shape.llm_tokens
        mask = torch.ones(s, s, dtype=torch.bool, device=device).tril()
        mask[self.shape.prefix_tokens :, :] = True
        return mask

    def _head_stages(self) -> list[StageSpec]:
        return [
            StageSpec("llm.prefill.norm", "norm", "llm.norm", ("llm.h",), ("llm.out",)),
            StageSpec("head", "head", "action_head", ("llm.out",), ("actions",)),
        ]

    def _norm_actions(self, h: torch.Tensor) -> torch.Tensor:
        return self.llm.norm(h[:, -self.n_extra_tokens() :])

    def _regress(self, x: torch.Tensor) -> torch.Tensor:
        hd = self.shape.head
        return self.action_head(x.reshape(x.shape[0], hd.chunk, hd.action_dim * x.shape[-1]))

    def _run_head_stage(self, spec: StageSpec, state: BoundaryState) -> BoundaryState:
        if spec.kind == "norm":
            return {"llm.out": self._norm_actions(state["llm.h"])}
        if spec.kind == "head":
            return {"actions": self._regress(state["llm.out"])}
        raise KeyError(spec.name)

    def outputs(self, state: BoundaryState) -> dict[str, torch.Tensor]:
        return {"actions": state["actions"]}

    def forward(self, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        self.check_inputs(inputs)
        h, _ = self.prefix_forward(inputs)
        return {"actions": self._regress(self._norm_actions(h))}

    def loss(
        self,
        inputs: dict[str, Any],
        actions: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """L1 between the regressed chunk and the normalised target chunk."""
        pred = self.forward(inputs)["actions"]
        loss = F.l1_loss(pred, actions)
        return loss, {"loss": float(loss.detach())}
