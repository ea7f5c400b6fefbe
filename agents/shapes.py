"""Architecture shapes of the VLA families: plain data shared by the model zoo and the cost model.

A shape says how big each part of a VLA is, nothing about weights. The model zoo
(``agents.zoo``) builds ``nn.Module``s from it (real-size ones on the meta device);
the execution-trace builder (``ecc.trace``) derives FLOPs and bytes from it
analytically. Keeping both readers on one description is what lets the simulated
and emulated runtimes agree.

Families:
- ``openvla``: vision tower(s) -> projector -> Llama decoder -> 7 autoregressive
  action tokens (256 uniform bins).
- ``oft``: same backbone, parallel decoding of a continuous action chunk (L1 head).
- ``pi0``: VLM prefix -> action expert attending to the prefix KV cache,
  integrating a flow-matching vector field over ``head.steps`` steps.
- ``cogact``: VLM -> cognition feature -> DiT head denoising an action chunk
  over ``head.steps`` DDIM steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Family = Literal["openvla", "oft", "pi0", "cogact"]
FAMILIES: tuple[str, ...] = ("openvla", "oft", "pi0", "cogact")


@dataclass(frozen=True)
class ViTShape:
    """One vision tower (ViT). Tokens per image = (image_size // patch_size) ** 2."""

    name: str
    image_size: int
    patch_size: int
    hidden: int
    layers: int
    heads: int
    mlp: int
    channels: int = 3

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


@dataclass(frozen=True)
class DecoderShape:
    """A Llama-style decoder: RMSNorm, RoPE, SwiGLU MLP, optional GQA (kv_heads < heads)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab_size: int = 0  # 0: no embedding / LM head (e.g. an action expert)
    tie_embeddings: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass(frozen=True)
class ProjectorShape:
    """MLP from concatenated vision features to the decoder width.

    ``depth`` linear layers: in_dim -> hidden -> ... -> out_dim (GELU between).
    """

    in_dim: int
    hidden: int
    out_dim: int
    depth: int = 2


@dataclass(frozen=True)
class ActionHeadShape:
    """How actions leave the model.

    kind:
      - ``ar_tokens``: ``action_dim`` tokens decoded one by one through the LLM.
      - ``l1_chunk``: one parallel pass over ``chunk * action_dim`` placeholder tokens,
        then a linear/MLP regression head.
      - ``flow_expert``: ``expert`` decoder attending to the prefix KV; ``steps`` Euler steps.
      - ``dit``: ``expert`` transformer (DiT) conditioned on a cognition feature;
        ``steps`` denoising steps.
    """

    kind: Literal["ar_tokens", "l1_chunk", "flow_expert", "dit"]
    action_dim: int = 7
    chunk: int = 1
    bins: int = 256
    steps: int = 1
    expert: DecoderShape | None = None


@dataclass(frozen=True)
class VLAShape:
    """A whole VLA: towers, projector, LLM, action head, and the input it sees."""

    name: str
    family: Family
    vision: tuple[ViTShape, ...]
    projector: ProjectorShape
    llm: DecoderShape
    head: ActionHeadShape
    prompt_tokens: int = 32  # language tokens of a typical instruction
    cameras: int = 1
    published_params: int | None = None  # total parameter count as published
    published_source: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def vision_tokens(self) -> int:
        # Fused towers (DINOv2 + SigLIP) see the same patches and concatenate channels.
        return self.vision[0].num_patches * self.cameras

    @property
    def prefix_tokens(self) -> int:
        return self.vision_tokens + self.prompt_tokens
