"""Precision maps: the bits each module group (and each execution stage) runs at.

The cost model (``ecc``) prices a stage by its weight bytes at the chosen bits and
its compute at the hardware's peak for the stage's *compute precision*; this module
is the one place that decides both from a quantization method config.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from quantization.config import MODULE_GROUPS, QuantMethodConfig, method_config
from quantization.errors import QuantConfigError, check_choice

COMPUTE_PRECISIONS = ("fp32", "bf16", "int8", "int4")


@dataclass(frozen=True)
class GroupPrecision:
    """Precision of one module group.

    weight_bits/act_bits: 32 (fp32), 16 (bf16) or 8/4/2 (integer).
    group_size: input channels per weight scale (None = per output channel).
    symmetric: weights without zero points. scale_bytes: bytes per stored scale.
    """

    weight_bits: int
    act_bits: int
    group_size: int | None = None
    symmetric: bool = True
    scale_bytes: int = 2

    @property
    def quantized(self) -> bool:
        return self.weight_bits <= 8

    def bytes_per_weight(self, in_features: int | None = None) -> float:
        """Average stored bytes per weight element incl. scales and zero points (bytes).

        ``in_features`` sets the per-channel group length (group_size None); without it
        per-channel scale overhead is taken as zero (negligible for large layers).
        """
        if not self.quantized:
            return self.weight_bits / 8
        group = self.group_size or in_features
        meta = 0.0
        if group:
            meta = (self.scale_bytes + (0 if self.symmetric else 1)) / group
        return self.weight_bits / 8 + meta

    @property
    def compute(self) -> str:
        """Which peak of the hardware profile prices this group's matmuls.

        Weight-only quantization (A16/A32) dequantizes to bf16/fp32 and computes there;
        integer activations compute at the wider of the two integer widths, with 2-bit
        counted as int4 (no int2 peak exists in the profiles).
        """
        if self.act_bits >= 16:
            return "fp32" if (self.act_bits == 32 and self.weight_bits == 32) else "bf16"
        widest = max(self.act_bits, self.weight_bits if self.quantized else 16)
        if widest >= 16:
            return "bf16"
        return "int8" if widest == 8 else "int4"


@dataclass(frozen=True)
class PrecisionMap:
    """Per-group precision plus the precision of everything kept high (norms, embeddings)."""

    groups: dict[str, GroupPrecision]
    high: GroupPrecision

    def for_group(self, group: str) -> GroupPrecision:
        check_choice("group", group, MODULE_GROUPS)
        return self.groups.get(group, self.high)

    def with_act_bits(self, act_bits: int) -> PrecisionMap:
        """The same map with activations of the quantized groups at ``act_bits`` (DyQ)."""
        check_choice("act_bits", act_bits, (32, 16, 8, 4, 2))
        return PrecisionMap(
            {g: replace(p, act_bits=act_bits) for g, p in self.groups.items()}, self.high
        )


def precision_map(cfg: QuantMethodConfig | dict | None = None) -> PrecisionMap:
    """Per-group precision of a method config (groups not quantized sit at ``high_bits``)."""
    cfg = method_config(cfg)
    if not cfg.quantizes_weights:  # method none: the whole model at fp32 or bf16
        return PrecisionMap({}, GroupPrecision(cfg.weight_bits, cfg.act_bits))
    high = GroupPrecision(cfg.high_bits, cfg.high_bits)
    scale_bytes = {"float16": 2, "bfloat16": 2, "float32": 4}[cfg.scale_dtype]
    groups = {
        g: GroupPrecision(
            cfg.weight_bits_for(g), cfg.act_bits, cfg.group_size, cfg.weight_symmetric, scale_bytes
        )
        for g in cfg.groups
    }
    return PrecisionMap(groups, high)


# First component of a stage name (agents.staged / ecc.trace naming) -> module group.
_PREFIX_GROUP = {
    "vision": "vision",
    "projector": "projector",
    "llm": "llm",
    "head": "action_head",
    "expert": "action_head",
    "dit": "action_head",
    "action_head": "action_head",
}
# Stage kinds that are embeddings / norms / LM heads: kept at high precision (the papers
# keep norms and embeddings in BF16; element-wise stages have no weights to quantize).
HIGH_KINDS = ("vision_patch", "embed", "norm", "lm_head", "attn_norm", "mlp_norm")


@dataclass(frozen=True)
class StagePrecision:
    """What the cost model needs about one stage's precision.

    bytes_per_weight: stored bytes per weight element (bytes). compute: one of
    ``fp32``, ``bf16``, ``int8``, ``int4``. weight_bits/act_bits: as configured.
    """

    group: str
    weight_bits: int
    act_bits: int
    bytes_per_weight: float
    compute: str


def stage_group(name: str, kind: str = "") -> str:
    """Module group of an execution stage from its name (``vision.dino.block0`` -> vision).

    Transformer layers of a flow expert / DiT (kind ``expert_layer``) are ``action_expert``.
    """
    head = name.split(".", 1)[0]
    if head not in _PREFIX_GROUP:
        raise QuantConfigError("stage.name prefix", head, sorted(_PREFIX_GROUP))
    return "action_expert" if kind == "expert_layer" else _PREFIX_GROUP[head]


def stage_precisions(
    stages: Iterable, pmap: PrecisionMap, act_bits: int | None = None
) -> dict[str, StagePrecision]:
    """Precision of every stage (objects with ``name`` and ``kind``: ``StageSpec``, ``TraceStage``).

    ``act_bits`` overrides the quantized groups' activation bits (a DyQ step).
    Patch/token embeddings, norms and LM heads stay at ``pmap.high``.
    """
    if act_bits is not None:
        pmap = pmap.with_act_bits(act_bits)
    out = {}
    for st in stages:
        group = stage_group(st.name, st.kind)
        p = pmap.high if st.kind in HIGH_KINDS else pmap.for_group(group)
        out[st.name] = StagePrecision(
            group, p.weight_bits, p.act_bits, p.bytes_per_weight(), p.compute
        )
    return out


def ecc_precision_name(p: GroupPrecision) -> str:
    """The precision name ``ecc.cost`` prices a stage at.

    Unquantized groups: ``fp32`` / ``bf16``. Quantized: ``w<bits>a<bits>`` (weights at
    their bits, compute at the activation precision's peak; fp32 activations on
    quantized weights are priced as a16, the closest compute peak the profiles have).
    """
    if not p.quantized:
        return "fp32" if p.weight_bits == 32 and p.act_bits == 32 else "bf16"
    return f"w{p.weight_bits}a{min(p.act_bits, 16)}"


def ecc_precision_map(
    stages: Iterable, pmap: PrecisionMap, act_bits: int | None = None
) -> dict[str, str]:
    """``{stage name: precision name}`` plus ``default`` for ``ecc.cost``'s ``precision`` arg."""
    if act_bits is not None:
        pmap = pmap.with_act_bits(act_bits)
    out = {"default": ecc_precision_name(pmap.high)}
    for st in stages:
        group = stage_group(st.name, st.kind)
        p = pmap.high if st.kind in HIGH_KINDS else pmap.for_group(group)
        out[st.name] = ecc_precision_name(p)
    return out
