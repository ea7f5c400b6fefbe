"""Structured configuration of a quantization method (the Hydra group ``quantization``).

One dataclass covers every method; method-specific knobs live in sub-configs.
:func:`method_config` turns a dict / OmegaConf node / dataclass into a validated
:class:`QuantMethodConfig`, raising :class:`~quantization.errors.QuantConfigError`
that names the bad field.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from quantization.errors import QuantConfigError, check_choice, check_range
from quantization.methods import CONF_DIR, METHODS, get_method

MODULE_GROUPS = ("vision", "projector", "llm", "action_expert", "action_head", "other")
HIGH_BITS = (32, 16)
SCALE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}

# Regexes on dotted module names; first group whose pattern matches wins, in this order.
DEFAULT_GROUP_PATTERNS: dict[str, list[str]] = {
    # The transformer layers of a flow-matching action expert (pi0) or a DiT head (CogACT);
    # their action/time/state projections and output layer stay in ``action_head``.
    "action_expert": [r"(^|\.)(expert|action_expert|dit)\.(layers|blocks)(\.|$)"],
    "action_head": [r"(^|\.)(action_head|head|expert|action_expert|dit|action_out)(\.|$)"],
    "projector": [r"(^|\.)(projector|mm_projector|proj_mlp|multi_modal_projector)(\.|$)"],
    "vision": [
        r"(^|\.)(vision|vision_tower|towers|visual|vit|encoder|image_encoder|backbone)(\.|$)"
    ],
    "llm": [r"(^|\.)(llm|language_model|decoder|transformer|layers|blocks)(\.|$)"],
}
# Layers kept in high precision whatever their group (the papers keep these in BF16).
DEFAULT_SKIP_PATTERNS: list[str] = [r"embed", r"lm_head", r"norm", r"pos_emb"]


@dataclass
class SmoothQuantConfig:
    """SmoothQuant migration. alpha: migration strength in [0, 1] (paper default 0.5);
    calib_batches: calibration batches (demonstration frames) to collect input maxima."""

    alpha: float = 0.5
    calib_batches: int = 16


@dataclass
class QVLAConfig:
    """QVLA-style mixed precision: weight bits chosen from ``bit_choices`` by the
    action-output error each choice causes, under an average weight-bit budget
    ``avg_weight_bits`` (weighted by parameter count).

    granularity: ``channel`` (groups of ``channel_group`` output channels, sensitivity by
    a first-order action-space estimate from ``probes`` random action projections) or
    ``module`` (one width per Linear, sensitivity measured by quantizing it alone). The
    paper does not publish its allocation schedule; the greedy error-per-bit rule is ours.
    """

    bit_choices: list[int] = field(default_factory=lambda: [2, 4, 8])
    avg_weight_bits: float = 4.0
    calib_batches: int = 8
    granularity: str = "channel"
    channel_group: int = 16
    probes: int = 8


@dataclass
class DyQConfig:
    """DyQ-VLA controller constants (paper values where it gives them).

    w_macro/w_micro: window lengths of motion fineness / angular jerk (steps, 10 / 5).
    lam: weight of M vs J (0.5, unconfirmed in the paper). theta_fp: score above which
    BF16 is used (0.5). thresholds: ``[th_2|4, th_4|8]`` of the lookup below theta_fp
    (the paper calibrates them; these defaults are placeholders until ``calibrate`` runs).
    hysteresis_k: consecutive steps a lower level must persist before stepping down (5).
    percentile: of past magnitudes used for mu_max / nu_max (95). history: ring-buffer
    length of past magnitudes (steps). xyz_slice/rot_slice: action components.
    calib_D/calib_eta: error bound eps(S) = D / (S + eta) (not published; fields).
    warmup_bits: precision before enough history exists (16 = BF16, the safe side).
    """

    w_macro: int = 10
    w_micro: int = 5
    lam: float = 0.5
    theta_fp: float = 0.5
    thresholds: list[float] = field(default_factory=lambda: [0.15, 0.3])
    hysteresis_k: int = 5
    percentile: float = 95.0
    history: int = 512
    xyz_slice: list[int] = field(default_factory=lambda: [0, 3])
    rot_slice: list[int] = field(default_factory=lambda: [3, 6])
    calib_D: float = 0.05
    calib_eta: float = 0.1
    warmup_bits: int = 16
    min_history: int = 2


@dataclass
class QuantMethodConfig:
    """A quantization method and where it applies.

    weight_bits/act_bits: 32 or 16 mean high precision (fp32 / bf16); 8/4/2 integer.
    group_size: input channels per weight scale (None = per output channel).
    groups: module groups to quantize (vision, projector, llm, action_head, other).
    group_patterns / skip_patterns: how module names map to groups / stay high precision.
    high_bits: bits of everything left unquantized when counting memory (16 = bf16).
    backend: ``auto`` (real kernels where this CPU has them) or ``fake``.
    group_fallback: what a layer whose ``in_features`` ``group_size`` does not divide gets:
    ``per_channel`` scales (logged) or ``error``.
    embedding_bits / conv_bits: weight-only integer storage (8/4/2, one scale per row / per
    output channel, dequantized on use) of the ``nn.Embedding`` tables / ``nn.Conv2d``
    kernels in the selected ``groups``; null keeps them at high precision (the papers' 7B
    models keep their embeddings in BF16; at tiny size these tensors are 11% of the model).
    weight_clip_search: shrunken weight ranges tried per group (ratios 1 down to 0.5), the
    one with the least squared error kept; 0 = each group's full range (round to nearest).
    group_weight_bits: per module group overrides of ``weight_bits`` (8/4/2), e.g.
    ``{action_expert: 8}``; groups not listed (or null) use ``weight_bits``.
    options: a plug-in method's own knobs (``quantization.methods``; its ``validate`` checks
    them); the built-in methods keep theirs in the sub-configs below.
    plugin: a module to import before ``name`` is looked up (it registers a plug-in method);
    null for the built-ins.
    """

    name: str = "none"
    weight_bits: int = 32
    act_bits: int = 32
    group_size: int | None = None
    weight_symmetric: bool = True
    weight_clip_search: int = 0
    group_weight_bits: dict[str, int] | None = None
    act_symmetric: bool = True
    scale_dtype: str = "float16"
    backend: str = "auto"
    groups: list[str] = field(default_factory=lambda: ["vision", "projector", "llm", "other"])
    group_patterns: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_GROUP_PATTERNS.items()}
    )
    skip_patterns: list[str] = field(default_factory=lambda: list(DEFAULT_SKIP_PATTERNS))
    high_bits: int = 16
    group_fallback: str = "per_channel"
    embedding_bits: int | None = None
    conv_bits: int | None = None
    smoothquant: SmoothQuantConfig = field(default_factory=SmoothQuantConfig)
    qvla: QVLAConfig = field(default_factory=QVLAConfig)
    dyq: DyQConfig = field(default_factory=DyQConfig)
    options: dict[str, Any] = field(default_factory=dict)
    plugin: str | None = None

    @property
    def quantizes_weights(self) -> bool:
        return self.weight_bits in (2, 4, 8)

    def weight_bits_for(self, group: str) -> int:
        """Weight bits of a quantized layer in module ``group``."""
        return int((self.group_weight_bits or {}).get(group, self.weight_bits))

    def group_for(self, in_features: int) -> int | None:
        """Group size a layer with ``in_features`` inputs gets (None = per channel)."""
        g = self.group_size
        if g is None or in_features % g == 0:
            return g
        if self.group_fallback == "error":
            raise QuantConfigError(
                "quantization.group_size",
                g,
                f"a divisor of in_features={in_features} (or group_fallback: per_channel)",
            )
        return None

    @property
    def torch_scale_dtype(self) -> torch.dtype:
        return SCALE_DTYPES[self.scale_dtype]

    def validate(self) -> QuantMethodConfig:
        """Check every field; returns self."""
        if self.plugin is not None:
            if not isinstance(self.plugin, str) or not self.plugin:
                raise QuantConfigError("quantization.plugin", self.plugin, "a module name or null")
            importlib.import_module(self.plugin)  # registers its method (quantization.methods)
        check_choice("quantization.name", self.name, METHODS.names())
        check_choice("quantization.weight_bits", self.weight_bits, (32, 16, 8, 4, 2))
        check_choice("quantization.act_bits", self.act_bits, (32, 16, 8, 4, 2))
        check_choice("quantization.scale_dtype", self.scale_dtype, tuple(SCALE_DTYPES))
        check_choice("quantization.backend", self.backend, ("auto", "fake"))
        check_choice("quantization.high_bits", self.high_bits, HIGH_BITS)
        check_choice("quantization.group_fallback", self.group_fallback, ("per_channel", "error"))
        check_choice("quantization.embedding_bits", self.embedding_bits, (None, 8, 4, 2))
        check_choice("quantization.conv_bits", self.conv_bits, (None, 8, 4, 2))
        if self.group_size is not None and (
            not isinstance(self.group_size, int) or self.group_size <= 0
        ):
            raise QuantConfigError(
                "quantization.group_size", self.group_size, "positive int or null"
            )
        if (
            not isinstance(self.weight_clip_search, int)
            or isinstance(self.weight_clip_search, bool)
            or self.weight_clip_search < 0
        ):
            raise QuantConfigError(
                "quantization.weight_clip_search", self.weight_clip_search, "an int >= 0"
            )
        for g in self.groups:
            check_choice("quantization.groups[]", g, MODULE_GROUPS)
        if not isinstance(self.group_weight_bits, dict | None):
            raise QuantConfigError(
                "quantization.group_weight_bits", self.group_weight_bits, "a {group: bits} map"
            )
        for g, b in (self.group_weight_bits or {}).items():
            check_choice("quantization.group_weight_bits key", g, MODULE_GROUPS)
            check_choice(f"quantization.group_weight_bits.{g}", b, (8, 4, 2))
        for g in self.group_patterns:
            check_choice("quantization.group_patterns key", g, MODULE_GROUPS)
        check_range("quantization.smoothquant.alpha", self.smoothquant.alpha, 0.0, 1.0)
        for b in self.qvla.bit_choices:
            check_choice("quantization.qvla.bit_choices[]", b, (2, 4, 8))
        check_choice("quantization.qvla.granularity", self.qvla.granularity, ("channel", "module"))
        for name in ("channel_group", "probes", "calib_batches"):
            if int(getattr(self.qvla, name)) < 1:
                raise QuantConfigError(
                    f"quantization.qvla.{name}", getattr(self.qvla, name), ">= 1"
                )
        check_range(
            "quantization.qvla.avg_weight_bits",
            self.qvla.avg_weight_bits,
            min(self.qvla.bit_choices),
            max(self.qvla.bit_choices),
        )
        d = self.dyq
        for name in ("w_macro", "w_micro", "hysteresis_k", "history", "min_history"):
            if int(getattr(d, name)) < 1:
                raise QuantConfigError(f"quantization.dyq.{name}", getattr(d, name), ">= 1")
        check_range("quantization.dyq.lam", d.lam, 0.0, 1.0)
        check_range("quantization.dyq.percentile", d.percentile, 1.0, 100.0)
        check_choice("quantization.dyq.warmup_bits", d.warmup_bits, (16, 8, 4, 2))
        if len(d.thresholds) != 2 or not (0 <= d.thresholds[0] <= d.thresholds[1] <= d.theta_fp):
            raise QuantConfigError(
                "quantization.dyq.thresholds",
                list(d.thresholds),
                f"two values with 0 <= th_2|4 <= th_4|8 <= theta_fp={d.theta_fp}",
            )
        if d.calib_eta <= 0 or d.calib_D <= 0:
            raise QuantConfigError(
                "quantization.dyq.calib_D/calib_eta", (d.calib_D, d.calib_eta), "> 0"
            )
        if not isinstance(self.options, dict):
            raise QuantConfigError("quantization.options", self.options, "a {knob: value} map")
        method = get_method(self.name)
        if method.validate is not None:
            method.validate(self)
        return self


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key.startswith("_"):  # Hydra's _target_ and friends
            continue
        if key not in names:
            raise QuantConfigError(f"{prefix}{key}", value, sorted(names))
        sub = {"smoothquant": SmoothQuantConfig, "qvla": QVLAConfig, "dyq": DyQConfig}
        if cls is QuantMethodConfig and key in sub and isinstance(value, dict):
            value = _build(sub[key], value, f"{prefix}{key}.")
        kwargs[key] = value
    return cls(**kwargs)


def method_config(cfg: Any = None) -> QuantMethodConfig:
    """A validated :class:`QuantMethodConfig` from a dataclass, dict or OmegaConf node."""
    if cfg is None:
        return QuantMethodConfig().validate()
    if isinstance(cfg, QuantMethodConfig):
        return cfg.validate()
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # omegaconf is a dependency, but keep plain dicts working without it
        pass
    if not isinstance(cfg, dict):
        raise QuantConfigError(
            "quantization", type(cfg).__name__, "dict, DictConfig or QuantMethodConfig"
        )
    return _build(QuantMethodConfig, cfg, "quantization.").validate()


def dyq_weight_config(path: Path | None = None, **overrides: Any) -> dict[str, Any]:
    """The weight side of the ``dyq`` method yaml (what a deployed DyQ policy stores).

    ``overrides`` replace fields as given (None = null, e.g. ``embedding_bits=None``); the ``dyq``
    controller block is dropped: calibration and memory accounting need the stored weights, not
    the thresholds.
    """
    import yaml

    data = yaml.safe_load(Path(path or CONF_DIR / "dyq.yaml").read_text())
    data.pop("dyq", None)
    data.update(overrides)
    return data
