"""Named VLA shapes (real-size published models and tiny trainable ones) and model building.

``get_shape(name)`` / ``list_shapes()`` / ``build_model(shape, device)``; a new family's module
adds its shapes with ``agents.shapes.register_shape``. Real-size models
are meant for ``torch.device("meta")``: parameter counting allocates nothing.

Published totals and how they were checked are in each shape's ``published_source``;
``python -m experiments.param_table`` prints counted vs published.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import torch
from torch import nn

import agents.models  # noqa: F401  (loads every family module: each registers its family, shapes)
from agents.errors import UnknownShapeError
from agents.shapes import (
    SHAPES,
    ActionHeadShape,
    DecoderShape,
    ProjectorShape,
    ViTShape,
    VLAShape,
    register_shape,
)

if TYPE_CHECKING:
    from agents.models.base import StagedVLA

# ---------------------------------------------------------------- real size
# Prismatic "dinosiglip-vit-so-224px": timm vit_large_patch14_reg4_dinov2 + vit_so400m_patch14_siglip_224.
# Both read the second-to-last block (get_intermediate_layers n={L-2}) without the final norm.
DINOV2_L14 = ViTShape(
    "dinov2",
    224,
    14,
    1024,
    24,
    16,
    4096,
    cls_tokens=1,
    register_tokens=4,
    layer_scale=True,
    post_norm=False,
    skip_last=1,
)
SIGLIP_SO400M_OPENVLA = ViTShape(
    "siglip", 224, 14, 1152, 27, 16, 4304, attn_pool=True, post_norm=False, skip_last=1
)
LLAMA2_7B = DecoderShape(
    hidden=4096, layers=32, heads=32, kv_heads=32, intermediate=11008, vocab_size=32064
)
# Prismatic "fused-gelu-mlp": 2176 -> 4*2176 -> 4096 -> 4096.
FUSED_PROJECTOR = ProjectorShape(
    in_dim=2176, hidden=8704, out_dim=4096, depth=3, hidden_widths=(8704, 4096)
)

OPENVLA_7B = VLAShape(
    name="openvla-7b",
    family="openvla",
    vision=(DINOV2_L14, SIGLIP_SO400M_OPENVLA),
    projector=FUSED_PROJECTOR,
    llm=LLAMA2_7B,
    head=ActionHeadShape("ar_tokens", action_dim=7, chunk=1, bins=256),
    prompt_tokens=32,
    cameras=1,
    published_params=7_541_237_184,
    published_source=(
        "HF model card/safetensors index of openvla/openvla-7b (Kim et al. 2024, arXiv 2406.09246): "
        "7,541,237,184 params. Counted here: the SigLIP MAP head and both towers' last block "
        "are stored but never run."
    ),
)

OFT_7B = VLAShape(
    name="openvla-oft-7b",
    family="oft",
    vision=(DINOV2_L14, SIGLIP_SO400M_OPENVLA),
    projector=FUSED_PROJECTOR,
    llm=LLAMA2_7B,
    head=ActionHeadShape("l1_chunk", action_dim=7, chunk=8, mlp_hidden=4096, mlp_blocks=2),
    prompt_tokens=32,
    cameras=2,  # LIBERO: third-person + wrist
    proprio_dim=8,
    published_params=7_709_000_000,
    published_source=(
        "Derived, not a published total (uncertain): OpenVLA-7B 7,541,237,184 (HF card) + "
        "L1 MLPResNet head (28672->4096, 2 blocks, ->7) ~151.1M + proprio projector 8->4096->4096 "
        "~16.8M, from the openvla-oft code (Kim et al. 2025, arXiv 2502.19645). Here proprio is "
        "one Linear (8->4096), ~16.8M fewer."
    ),
)

DIT_B = DecoderShape(
    hidden=768,
    layers=12,
    heads=12,
    kv_heads=12,
    intermediate=3072,
    mlp_act="gelu",
    gated_mlp=False,
    norm="layer",
    bias=True,
    rope=False,
)

COGACT_BASE = VLAShape(
    name="cogact-base",
    family="cogact",
    vision=(DINOV2_L14, SIGLIP_SO400M_OPENVLA),
    projector=FUSED_PROJECTOR,
    llm=LLAMA2_7B,
    head=ActionHeadShape("dit", action_dim=7, chunk=16, steps=10, expert=DIT_B, train_steps=100),
    prompt_tokens=32,
    cameras=1,
    published_params=7_600_000_000,
    published_source=(
        "CogACT paper (Li et al. 2024, arXiv 2411.19650): ~7.6B for CogACT-Base = Prismatic-7B VLM "
        "(OpenVLA backbone) + DiT-Base action module (12 blocks, 768 wide, ~89M). Rounded figure; "
        "16-step chunk, DDIM 10 steps, DDPM 100 training steps per the public code."
    ),
)

SIGLIP_SO400M = ViTShape("siglip", 224, 14, 1152, 27, 16, 4304)  # PaliGemma: post-LN, no MAP head
GEMMA_2B = DecoderShape(
    hidden=2048,
    layers=18,
    heads=8,
    kv_heads=1,
    intermediate=16384,
    vocab_size=257152,
    tie_embeddings=True,
    head_size=256,
    mlp_act="gelu",
)
GEMMA_300M_EXPERT = DecoderShape(
    hidden=1024, layers=18, heads=8, kv_heads=1, intermediate=4096, head_size=256, mlp_act="gelu"
)

PI0 = VLAShape(
    name="pi0-3b",
    family="pi0",
    vision=(SIGLIP_SO400M,),
    projector=ProjectorShape(in_dim=1152, hidden=2048, out_dim=2048, depth=1),
    llm=GEMMA_2B,
    head=ActionHeadShape(
        "flow_expert", action_dim=32, chunk=50, steps=10, expert=GEMMA_300M_EXPERT
    ),
    prompt_tokens=48,
    cameras=3,  # base + 2 wrist slots (openpi embeds the padded slot too)
    proprio_dim=32,
    published_params=3_300_000_000,
    published_source=(
        "pi0 paper (Black et al. 2024, arXiv 2410.24164): 3.3B total = PaliGemma-3B "
        "(SigLIP So400m/14 + Gemma-2B, 2,923,335,408) + ~300M action expert (width 1024, "
        "mlp 4096, 18 layers). Rounded figure; the openpi checkpoint counts ~3.24B."
    ),
)

SMOLVLA = VLAShape(
    name="smolvla-450m",
    family="pi0",
    vision=(ViTShape("siglip", 512, 16, 768, 12, 12, 3072, pixel_shuffle=4),),
    projector=ProjectorShape(in_dim=768 * 16, hidden=960, out_dim=960, depth=1),
    llm=DecoderShape(
        hidden=960, layers=16, heads=15, kv_heads=5, intermediate=2560, vocab_size=49280
    ),
    head=ActionHeadShape(
        "flow_expert",
        action_dim=32,
        chunk=50,
        steps=10,
        expert=DecoderShape(
            hidden=720, layers=16, heads=15, kv_heads=5, intermediate=2048, head_size=64
        ),
    ),
    prompt_tokens=48,
    cameras=2,
    proprio_dim=32,
    published_params=450_000_000,
    published_source=(
        "SmolVLA paper (Shukor et al. 2025, arXiv 2506.01844): 0.45B. SmolVLM2-500M with the "
        "text model cut to its first 16 of 32 layers (untied LM head kept), SigLIP-B/16 @512 "
        "with pixel shuffle 4 (64 tokens/image), expert 0.75x width (720). Expressed as the "
        "pi0 family: SmolVLA's interleaved cross-attention layers are modelled as joint "
        "attention (k/v from 720 instead of 320 on half the layers: ~+2M), state in the suffix."
    ),
)

# -------------------------------------------------------------------- tiny
# Sized like anchors.md's 1.3M-param policy: 64x64 images, 16 tokens per camera after
# pixel shuffle, 4-layer 128-wide LLM. Vocabulary: 256 text ids + 256 action-bin ids.
TINY_IMAGE = 64
TINY_VOCAB = 512
TINY_PROMPT = 20  # the longest suite instruction is 18 words + <bos>/<eos>
TINY_PROPRIO = 9  # eef_pos 3 + eef_quat 4 + gripper_qpos 2
# Hybrid-ViT stem, FiLM-conditioned on the instruction, with spatial-softmax keypoints handed
# to the projector. With a plain (32, 64) stem, policies trained here never located the named
# object: their first action's x/y had r < 0.15 with the demonstrations' whatever the images
# (experiments.first_action_check) and closed-loop success stayed at ~2% (docs/agents.md).
_TINY_STEM = (32, 64, 64)
_TINY_STEM_KW = {"conv_stem": _TINY_STEM, "film_vocab": TINY_VOCAB, "keypoints": True}
_TINY_DINO = ViTShape(
    "dino",
    TINY_IMAGE,
    8,
    64,
    2,
    2,
    128,
    cls_tokens=1,
    register_tokens=1,
    layer_scale=True,
    pixel_shuffle=2,
    **_TINY_STEM_KW,
)
_TINY_SIGLIP = ViTShape("siglip", TINY_IMAGE, 8, 64, 2, 2, 128, pixel_shuffle=2, **_TINY_STEM_KW)
_TINY_LLM = DecoderShape(
    hidden=128, layers=4, heads=4, kv_heads=2, intermediate=384, vocab_size=TINY_VOCAB
)
_TINY_FUSED = ProjectorShape(in_dim=2 * 64 * 4, hidden=256, out_dim=128, depth=2)


def _tiny(
    name: str, family: str, head: ActionHeadShape, fused: bool = True, tied: bool = False
) -> VLAShape:
    towers = (_TINY_DINO, _TINY_SIGLIP) if fused else (_TINY_SIGLIP,)
    proj = _TINY_FUSED if fused else ProjectorShape(in_dim=64 * 4, hidden=256, out_dim=128, depth=2)
    return VLAShape(
        name=name,
        family=family,  # type: ignore[arg-type]
        vision=towers,
        projector=proj,
        llm=replace(_TINY_LLM, tie_embeddings=True) if tied else _TINY_LLM,
        head=head,
        prompt_tokens=TINY_PROMPT,
        cameras=2,
        proprio_dim=TINY_PROPRIO,
    )


OPENVLA_TINY = _tiny("openvla-tiny", "openvla", ActionHeadShape("ar_tokens", action_dim=7, chunk=1))
OFT_TINY = _tiny(
    "oft-tiny", "oft", ActionHeadShape("l1_chunk", action_dim=7, chunk=8, mlp_hidden=256)
)
PI0_TINY = _tiny(
    "pi0-tiny",
    "pi0",
    ActionHeadShape(
        "flow_expert",
        action_dim=7,
        chunk=8,
        steps=10,
        expert=DecoderShape(
            hidden=64, layers=4, heads=4, kv_heads=2, intermediate=256, head_size=32, mlp_act="gelu"
        ),
    ),
    fused=False,
    tied=True,  # PaliGemma ties its LM head to the embeddings (as pi0-3b does)
)
COGACT_TINY = _tiny(
    "cogact-tiny",
    "cogact",
    ActionHeadShape(
        "dit",
        action_dim=7,
        chunk=8,
        steps=10,
        train_steps=100,
        expert=DecoderShape(
            hidden=128,
            layers=4,
            heads=4,
            kv_heads=4,
            intermediate=512,
            mlp_act="gelu",
            gated_mlp=False,
            norm="layer",
            bias=True,
            rope=False,
        ),
    ),
)

for _s in (
    OPENVLA_7B,
    OFT_7B,
    COGACT_BASE,
    PI0,
    SMOLVLA,
    OPENVLA_TINY,
    OFT_TINY,
    PI0_TINY,
    COGACT_TINY,
):
    register_shape(_s)
_SHAPES = SHAPES  # the one table of named shapes (agents.shapes), built-ins and plug-ins
TINY_SHAPES: tuple[str, ...] = ("openvla-tiny", "oft-tiny", "pi0-tiny", "cogact-tiny")
REAL_SHAPES: tuple[str, ...] = (
    "openvla-7b",
    "openvla-oft-7b",
    "cogact-base",
    "pi0-3b",
    "smolvla-450m",
)


def list_shapes() -> list[str]:
    """Names accepted by ``get_shape``."""
    return list(_SHAPES)


def get_shape(name: str) -> VLAShape:
    """A named shape; raises UnknownShapeError listing the known names."""
    try:
        return _SHAPES[name]
    except KeyError:
        raise UnknownShapeError(
            f"shape={name!r} is unknown; allowed: {', '.join(_SHAPES)}"
        ) from None


def build_model(shape: VLAShape | str, device: torch.device | str | None = None) -> StagedVLA:
    """Build the family's nn.Module for ``shape`` (use ``device="meta"`` for real sizes).

    The class is the family's registry entry (``agents.families``)."""
    if isinstance(shape, str):
        shape = get_shape(shape)
    cls = shape.family_spec.model_class
    return cls(shape, torch.device(device) if device is not None else None)


def random_model(shape: VLAShape | str, seed: int = 0, std: float | None = 0.05) -> StagedVLA:
    """An eval-mode model with seeded random weights (tests, latency studies, the stage server).

    ``std``: redraw every parameter from N(0, std) (zero-initialised positional and extra tokens
    would otherwise hide plumbing bugs); None keeps the layers' own initialisation.
    """
    torch.manual_seed(seed)
    model = build_model(shape).eval()
    if std is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, std)
    return model


def random_inputs(shape: VLAShape | str, batch: int = 1, seed: int = 1) -> dict[str, torch.Tensor]:
    """Seeded random model inputs of the right shapes (images, prompt tokens, proprio, noise)."""
    if isinstance(shape, str):
        shape = get_shape(shape)
    g = torch.Generator().manual_seed(seed)
    v = shape.vision[0]
    return {
        "images": torch.randn(
            batch, shape.cameras, v.channels, v.image_size, v.image_size, generator=g
        ),
        "tokens": torch.randint(0, 200, (batch, shape.prompt_tokens), generator=g),
        "proprio": torch.randn(batch, shape.proprio_dim, generator=g),
        "noise": torch.randn(batch, shape.head.chunk, shape.head.action_dim, generator=g),
    }


def count_params(model: nn.Module) -> int:
    """Unique parameters (tied weights counted once); works on meta tensors."""
    return sum(p.numel() for p in model.parameters())


def text_vocab_size(shape: VLAShape) -> int:
    """Ids available to text: the vocabulary minus the action-bin ids at its end."""
    return shape.llm.vocab_size - shape.head.bins
