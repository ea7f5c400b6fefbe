"""Architecture shapes the cost model needs, looked up by name.

The model zoo (``agents.zoo``) owns the canonical shapes; this module asks it first and
falls back to the few real-size shapes defined here so that the cost model works while the
zoo is being written (and in environments that do not import it).
"""

from __future__ import annotations

import logging

from agents.shapes import ActionHeadShape, DecoderShape, ProjectorShape, ViTShape, VLAShape
from ecc.errors import UnknownNameError

log = logging.getLogger(__name__)

# Prismatic DINOv2 ViT-L/14 + SigLIP So400m/14 at 224 px, as in OpenVLA and CogACT
# (arXiv 2406.09246, 2411.19650). OpenVLA takes the second-to-last layer: 23 and 26 blocks run.
_DINO = ViTShape(
    "dinov2", image_size=224, patch_size=14, hidden=1024, layers=24, heads=16, mlp=4096
)
_SIGLIP = ViTShape(
    "siglip", image_size=224, patch_size=14, hidden=1152, layers=27, heads=16, mlp=4304
)
_LLAMA2_7B = DecoderShape(
    hidden=4096, layers=32, heads=32, kv_heads=32, intermediate=11008, vocab_size=32064
)

_LOCAL: dict[str, VLAShape] = {
    "openvla-7b": VLAShape(
        name="openvla-7b",
        family="openvla",
        vision=(_DINO, _SIGLIP),
        projector=ProjectorShape(in_dim=2176, hidden=8704, out_dim=4096, depth=3),
        llm=_LLAMA2_7B,
        head=ActionHeadShape(kind="ar_tokens", action_dim=7, chunk=1, bins=256),
        prompt_tokens=32,
        published_params=7_541_000_000,
        published_source="OpenVLA, arXiv 2406.09246 (7.5B parameters)",
    ),
    "cogact": VLAShape(
        name="cogact",
        family="cogact",
        vision=(_DINO, _SIGLIP),
        projector=ProjectorShape(in_dim=2176, hidden=8704, out_dim=4096, depth=3),
        llm=_LLAMA2_7B,
        # DiT-Base action module, 16-step chunk, 10 DDIM steps (CogACT, arXiv 2411.19650).
        head=ActionHeadShape(
            kind="dit",
            action_dim=7,
            chunk=16,
            steps=10,
            expert=DecoderShape(hidden=768, layers=12, heads=12, kv_heads=12, intermediate=3072),
        ),
        prompt_tokens=32,
        published_params=7_600_000_000,
        published_source="CogACT, arXiv 2411.19650 (7.6B parameters)",
    ),
    "pi0": VLAShape(
        name="pi0",
        family="pi0",
        vision=(ViTShape("siglip", 224, 14, 1152, 27, 16, 4304),),
        projector=ProjectorShape(in_dim=1152, hidden=2048, out_dim=2048, depth=1),
        llm=DecoderShape(
            hidden=2048, layers=18, heads=8, kv_heads=1, intermediate=16384, vocab_size=257152
        ),
        head=ActionHeadShape(
            kind="flow_expert",
            action_dim=7,
            chunk=50,
            steps=10,
            expert=DecoderShape(hidden=1024, layers=18, heads=8, kv_heads=1, intermediate=4096),
        ),
        prompt_tokens=48,
        cameras=2,
        published_params=3_300_000_000,
        published_source="pi0, arXiv 2410.24164 (3.3B parameters)",
    ),
}


# Short names used in the papers and configs -> zoo names.
ALIASES = {
    "cogact": "cogact-base",
    "pi0": "pi0-3b",
    "openvla": "openvla-7b",
    "openvla-oft": "openvla-oft-7b",
}


def local_shape_names() -> tuple[str, ...]:
    """Names defined in this module (used only when ``agents.zoo`` cannot be imported)."""
    return tuple(_LOCAL)


def shape_names() -> list[str]:
    """Every name :func:`get_shape` accepts."""
    try:  # lazy and optional: the zoo loads torch; the cost model runs without it
        from agents import zoo

        return [*zoo.list_shapes(), *ALIASES]
    except ImportError:
        return [*_LOCAL, *ALIASES]


def get_shape(name: str) -> VLAShape:
    """The :class:`VLAShape` called ``name`` (or an alias): from ``agents.zoo``, else local."""
    canonical = ALIASES.get(name, name)
    try:
        from agents import zoo
    except ImportError:  # the zoo is optional for the cost model
        log.debug("agents.zoo not importable; using ecc.catalog's local shapes")
        if name in _LOCAL:
            return _LOCAL[name]
        raise UnknownNameError("architecture", name, [*_LOCAL]) from None
    if canonical in zoo.list_shapes():
        return zoo.get_shape(canonical)
    raise UnknownNameError("architecture", name, shape_names())
