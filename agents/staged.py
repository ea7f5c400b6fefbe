"""The contract between a VLA and whatever splits it across devices.

A VLA forward for one action generation is unrolled into an ordered list of
``StageSpec``s. Each stage reads named tensors from a *boundary state* (a plain
``dict[str, torch.Tensor]``) and writes named tensors back. Running every stage
in order from ``init_state`` and then ``outputs`` must equal the monolithic
``forward`` (fp32, max abs diff <= 1e-5).

Because stages declare what they read and write, a runtime can compute what
crosses a device change generically: at a cut, the tensors sent are those read
later on the other side whose latest write happened on this side. KV caches
therefore never cross a cut that keeps each layer on one device; the hidden
state of the current token does, once per decoded token.

Stage naming (shared with ``ecc.trace``, which builds the same list analytically):

    vision.{tower}.patch_embed            vision.{tower}.block{i}
    projector
    llm.embed
    llm.prefill.layer{i}                  llm.prefill.norm
    llm.decode.t{t}.embed                 llm.decode.t{t}.layer{i}
    llm.decode.t{t}.head                  (AR families: one group per action token)
    head                                  (oft: regression head)
    expert.s{s}.layer{i}                  expert.s{s}.out   (pi0 flow / cogact DiT steps)

``module`` names the nn.Module whose weights a stage uses, so repeated stages
(decode steps, flow steps) share weights and memory is counted once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

BoundaryState = dict[str, torch.Tensor]


@dataclass(frozen=True)
class StageSpec:
    """One stage invocation in the unrolled forward."""

    name: str
    kind: str  # vision_patch, vision_block, projector, embed, llm_layer, norm, lm_head, head, expert_layer, expert_out
    module: str  # dotted path of the nn.Module whose parameters this stage uses
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    step: int | None = None  # decode token index or flow/diffusion step, if any
    layer: int | None = None


@runtime_checkable
class StagedModel(Protocol):
    """A model that can run one stage at a time from an explicit boundary state."""

    def stages(self) -> list[StageSpec]:
        """The unrolled stage list of one action generation, in execution order."""
        ...

    def init_state(self, inputs: dict[str, Any]) -> BoundaryState:
        """Boundary state before the first stage (images, token ids, noise, ...)."""
        ...

    def run_stage(self, spec: StageSpec, state: BoundaryState) -> BoundaryState:
        """Run one stage; returns the tensors it writes (the caller merges them)."""
        ...

    def outputs(self, state: BoundaryState) -> dict[str, torch.Tensor]:
        """Final outputs (``actions`` [B, chunk, action_dim], plus e.g. ``token_logits``)."""
        ...


def run_all_stages(model: StagedModel, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Execute every stage in order in one process; the reference for split execution."""
    state = model.init_state(inputs)
    for spec in model.stages():
        state.update(model.run_stage(spec, state))
    return model.outputs(state)


def state_nbytes(state: BoundaryState, keys: tuple[str, ...] | list[str] | None = None) -> int:
    """Bytes held by ``keys`` of a boundary state (all keys when None)."""
    chosen = state.keys() if keys is None else keys
    return sum(state[k].numel() * state[k].element_size() for k in chosen)
