"""Hardware profiles and the per-stage roofline.

A profile carries what a spec sheet gives (peak compute per precision, memory bandwidth
and capacity) plus what only measurement gives (compute / memory efficiency, per-kernel
launch overhead). Profiles live as Hydra configs in ``conf/hardware/<name>.yaml``; a
calibrated profile written by ``ecc.calibrate`` to the user profile directory
(``$VLA_ECC_PROFILE_DIR`` or ``~/.config/vla_ecc/hardware``) is found by the same name.

Latency of one stage on a device (roofline, RoboECC's model plus launch overhead):

    t_ms = max(FLOPs / (peak * compute_eff), bytes / (mem_bw * mem_eff)) * 1e3
           + kernels * kernel_overhead_ms + stage_overhead_ms
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecc.errors import InvalidValueError, UnknownNameError, check_choice, check_positive

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8", "int4")
WEIGHT_BYTES: dict[str, float] = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}
# Mixed schemes "w<bits>a<bits>" (W4A16, W8A8, W4A4, DyQ's W4A2...): weights at w bits,
# compute at the peak of the activation precision (a16 -> bf16, a8 -> int8, a4/a2 -> int4).
_MIXED = re.compile(r"^w(16|8|4|2)a(16|8|4|2)$")
_ACT_COMPUTE = {"16": "bf16", "8": "int8", "4": "int4", "2": "int4"}
PRECISION_HELP = "fp32, bf16, int8, int4 or w<16|8|4|2>a<16|8|4|2> (e.g. w4a16, w8a8)"


def parse_precision(precision: str) -> tuple[float, str]:
    """(weight bytes per element without scales, compute precision) of a precision name."""
    p = str(precision).lower()
    if p in WEIGHT_BYTES:
        return WEIGHT_BYTES[p], p
    m = _MIXED.match(p)
    if m is None:
        raise UnknownNameError(
            "precision", precision, [*PRECISIONS, "w4a16", "w8a8", "w4a4", "w4a8", "..."]
        )
    return int(m.group(1)) / 8, _ACT_COMPUTE[m.group(2)]


def check_precision(precision: str) -> str:
    """Return ``precision`` or raise naming the allowed values."""
    parse_precision(precision)
    return precision


ROLES = ("edge", "cloud")
REPO_HARDWARE_DIR = Path(__file__).resolve().parents[1] / "conf" / "hardware"


def user_profile_dir() -> Path:
    """Where calibrated profiles are written and looked up first."""
    env = os.environ.get("VLA_ECC_PROFILE_DIR")
    return Path(env) if env else Path.home() / ".config" / "vla_ecc" / "hardware"


@dataclass
class HardwareProfile:
    """One device. Units are those of spec sheets: TFLOP/s, GB/s (1e9 bytes/s), GB, us.

    ``compute_eff`` may be one number or one per precision (fraction of peak reached by
    real kernels); ``mem_eff`` is the fraction of peak bandwidth reached by streaming
    weights; ``int4_scale_overhead`` is extra weight bytes per int4 byte (group scales).
    """

    name: str
    role: str
    peak_tflops: dict[str, float]
    mem_bandwidth_gbps: float
    mem_capacity_gb: float
    compute_eff: Any = 0.5
    mem_eff: float = 0.7
    kernel_overhead_us: float = 10.0
    stage_overhead_us: float = 0.0  # per stage invocation (framework dispatch of one stage)
    usable_mem_frac: float = 0.9
    int4_scale_overhead: float = 1.0 / 32
    source: str = ""
    notes: str = ""
    calibrated: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice(f"{self.name}.role", self.role, ROLES)
        self.peak_tflops = {str(k): float(v) for k, v in dict(self.peak_tflops).items()}
        missing = [p for p in PRECISIONS if p not in self.peak_tflops]
        if missing:
            raise InvalidValueError(
                f"{self.name}.peak_tflops", sorted(self.peak_tflops), f"keys {PRECISIONS}"
            )
        for p, v in self.peak_tflops.items():
            check_positive(f"{self.name}.peak_tflops.{p}", v)
        if not isinstance(self.compute_eff, int | float):
            self.compute_eff = {str(k): float(v) for k, v in dict(self.compute_eff).items()}
        for p in PRECISIONS:
            e = self.eff(p)
            if not 0 < e <= 1:
                raise InvalidValueError(f"{self.name}.compute_eff.{p}", e, "(0, 1]")
        if not 0 < self.mem_eff <= 1:
            raise InvalidValueError(f"{self.name}.mem_eff", self.mem_eff, "(0, 1]")
        check_positive(f"{self.name}.mem_bandwidth_gbps", self.mem_bandwidth_gbps)
        check_positive(f"{self.name}.mem_capacity_gb", self.mem_capacity_gb)
        check_positive(f"{self.name}.kernel_overhead_us", self.kernel_overhead_us, allow_zero=True)
        check_positive(f"{self.name}.stage_overhead_us", self.stage_overhead_us, allow_zero=True)
        self.calibrated = dict(self.calibrated or {})

    def eff(self, precision: str) -> float:
        """Compute efficiency at ``precision`` (fraction of peak)."""
        if isinstance(self.compute_eff, dict):
            return float(self.compute_eff.get(precision, self.compute_eff.get("default", 0.5)))
        return float(self.compute_eff)

    def flops_per_s(self, precision: str) -> float:
        """Effective FLOP/s at ``precision`` (mixed schemes: the activation precision's peak)."""
        compute = parse_precision(precision)[1]
        return self.peak_tflops[compute] * 1e12 * self.eff(compute)

    @property
    def bytes_per_s(self) -> float:
        """Effective memory bandwidth in bytes/s."""
        return self.mem_bandwidth_gbps * 1e9 * self.mem_eff

    @property
    def mem_capacity_bytes(self) -> float:
        """Usable memory in bytes."""
        return self.mem_capacity_gb * 1e9 * self.usable_mem_frac

    @property
    def kernel_overhead_ms(self) -> float:
        return self.kernel_overhead_us * 1e-3

    @property
    def stage_overhead_ms(self) -> float:
        return self.stage_overhead_us * 1e-3

    def weight_bytes_per_elem(self, precision: str) -> float:
        """Bytes per weight at ``precision``, group scales included."""
        wb = parse_precision(precision)[0]
        return wb * (1 + self.int4_scale_overhead) if wb < 1 else wb

    def to_dict(self) -> dict:
        """Plain dict (the YAML layout)."""
        return asdict(self)


def stage_latency_ms(
    flops: np.ndarray,
    mem_bytes: np.ndarray,
    kernels: np.ndarray,
    flops_per_s: np.ndarray | float,
    bytes_per_s: float,
    kernel_overhead_ms: float,
    stage_overhead_ms: float = 0.0,
) -> np.ndarray:
    """Vectorised roofline: per-stage latency in ms."""
    roof = np.maximum(flops / flops_per_s, mem_bytes / bytes_per_s) * 1e3
    return roof + kernels * kernel_overhead_ms + stage_overhead_ms


def available_profiles() -> list[str]:
    """Names of every loadable profile (user directory and the repository's conf/hardware)."""
    names = set()
    for d in (user_profile_dir(), REPO_HARDWARE_DIR):
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def profile_from_config(cfg: Any) -> HardwareProfile:
    """Build a profile from a dict / OmegaConf node (``_target_`` and unknown keys dropped)."""
    if isinstance(cfg, dict):  # plain YAML: no OmegaConf needed (e.g. a bare GPU box)
        d = dict(cfg)
    else:
        from omegaconf import DictConfig, OmegaConf

        d = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    d.pop("_target_", None)
    known = set(HardwareProfile.__dataclass_fields__)
    unknown = sorted(set(d) - known)
    if unknown:
        raise InvalidValueError("hardware field", unknown, f"one of {sorted(known)}")
    return HardwareProfile(**d)


def load_profile(name_or_path: str | os.PathLike | HardwareProfile) -> HardwareProfile:
    """Load a profile by name (user directory first, then conf/hardware) or from a YAML path."""
    if isinstance(name_or_path, HardwareProfile):
        return name_or_path
    from omegaconf import OmegaConf

    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return profile_from_config(OmegaConf.load(p))
    for d in (user_profile_dir(), REPO_HARDWARE_DIR):
        f = d / f"{name_or_path}.yaml"
        if f.is_file():
            return profile_from_config(OmegaConf.load(f))
    raise UnknownNameError("hardware", str(name_or_path), available_profiles())


def save_profile(profile: HardwareProfile, path: str | os.PathLike | None = None) -> Path:
    """Write ``profile`` as YAML (default: the user profile directory, by its name)."""
    from omegaconf import OmegaConf

    out = Path(path) if path else user_profile_dir() / f"{profile.name}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    d = {"_target_": "ecc.hardware.HardwareProfile", **profile.to_dict()}
    out.write_text(OmegaConf.to_yaml(OmegaConf.create(d)))
    return out
