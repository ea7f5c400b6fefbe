"""Memory footprint of a configured model, exactly, and measured peak RSS.

:func:`model_memory_bytes` walks any ``nn.Module`` (real or on the ``meta`` device)
and counts, per module group, the bytes each layer *would hold* under a method:
selected ``nn.Linear`` layers at their packed integer size plus scales / zero points
(the same formulas ``QuantLinear`` allocates with, layout included), every other
parameter at ``high_bits``, buffers at their own dtype. Already-quantized
``QuantLinear`` layers report their actual buffers. For a real model quantized with
``high_bits=32`` the total equals the bytes of its tensors exactly (tested).

Embedding tables and conv kernels selected by ``embedding_bits`` / ``conv_bits`` count
at their per-row integer size (:mod:`quantization.weight_only`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from quantization import packing
from quantization.config import QuantMethodConfig, method_config
from quantization.linear import QuantLinear, StorageBytes
from quantization.selection import is_skipped, module_group, selected_weight_only


@dataclass
class GroupBytes:
    """Bytes of one module group (bytes) and its parameter count."""

    params: int = 0
    weight: int = 0  # quantized weight codes
    scale: int = 0
    zero: int = 0
    high: int = 0  # everything at high precision (unquantized params, biases)
    buffers: int = 0

    @property
    def total(self) -> int:
        return self.weight + self.scale + self.zero + self.high + self.buffers

    def add(self, other: GroupBytes) -> None:
        for f in ("params", "weight", "scale", "zero", "high", "buffers"):
            setattr(self, f, getattr(self, f) + getattr(other, f))


@dataclass
class MemoryBreakdown:
    """Per-group bytes of a model under a method (bytes)."""

    groups: dict[str, GroupBytes] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(g.total for g in self.groups.values())

    @property
    def params(self) -> int:
        return sum(g.params for g in self.groups.values())

    def group(self, name: str) -> GroupBytes:
        return self.groups.setdefault(name, GroupBytes())

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for result files: ``{group: {field: bytes}, "total": bytes}``."""
        out: dict[str, Any] = {
            g: {**vars(b), "total": b.total} for g, b in sorted(self.groups.items())
        }
        out["total"] = self.total
        out["params"] = self.params
        return out


def quantized_linear_bytes(
    out_features: int,
    in_features: int,
    bits: int,
    group_size: int | None,
    symmetric: bool,
    scale_bytes: int = 2,
    layout: str = "auto",
) -> StorageBytes:
    """Bytes ``QuantLinear`` stores for a weight (no bias), by the rules it allocates with.

    layout: ``auto`` (as QuantLinear picks on this CPU), ``rowmajor`` or ``int4pack_cpu``.
    """
    group = group_size or in_features
    n_groups = in_features // group
    if layout == "auto":
        use_int4 = bits == 4 and packing.int4pack_cpu_supported(out_features, in_features, group)
        layout = "int4pack_cpu" if use_int4 else "rowmajor"
    if layout == "int4pack_cpu":
        sz = n_groups * out_features * 2 * 2  # bf16 (scale, float zero) pairs
        zero = 0 if symmetric else sz // 2
        return StorageBytes(out_features * in_features // 2, sz - zero, zero, 0)
    weight = packing.packed_weight_bytes(out_features, in_features, bits)
    scale = n_groups * out_features * scale_bytes
    zero = 0 if symmetric else n_groups * out_features
    return StorageBytes(weight, scale, zero, 0)


def _nbytes_at(numel: int, bits: int) -> int:
    return numel * bits // 8


def model_memory_bytes(
    model: nn.Module,
    cfg: QuantMethodConfig | dict | None = None,
    layout: str = "auto",
) -> MemoryBreakdown:
    """Bytes of ``model`` under method ``cfg``, per module group (works on meta tensors).

    Unquantized parameters count at ``cfg.high_bits`` (method none: ``cfg.weight_bits``);
    buffers at their own dtype; ``QuantLinear`` layers at their actual buffers.
    """
    cfg = method_config(cfg)
    if layout == "auto" and cfg.backend == "fake":
        layout = "rowmajor"  # as QuantLinear picks for the fake backend
    high_bits = cfg.high_bits if cfg.quantizes_weights else cfg.weight_bits
    scale_bytes = {"float16": 2, "bfloat16": 2, "float32": 4}[cfg.scale_dtype]
    out = MemoryBreakdown()
    seen: set[int] = set()  # tied weights (shared Parameters) count once
    weight_only = selected_weight_only(model, cfg) if cfg.quantizes_weights else {}
    for name, mod in model.named_modules():
        gb = out.group(module_group(name, cfg))
        if isinstance(mod, QuantLinear):
            sb = mod.storage_bytes()
            gb.add(
                GroupBytes(
                    mod.in_features * mod.out_features + (mod.bias is not None) * mod.out_features,
                    sb.weight,
                    sb.scale,
                    sb.zero,
                    sb.bias + sb.extra,
                )
            )
            continue
        own_params = list(mod.named_parameters(recurse=False))
        quantize = (
            type(mod) is nn.Linear
            and cfg.quantizes_weights
            and module_group(name, cfg) in cfg.groups
            and not is_skipped(name, cfg)
        )
        for pname, p in own_params:
            if id(p) in seen:
                continue
            seen.add(id(p))
            gb.params += p.numel()
            sb = None
            if quantize and pname == "weight":
                sb = quantized_linear_bytes(
                    mod.out_features,
                    mod.in_features,
                    cfg.weight_bits_for(module_group(name, cfg)),
                    cfg.group_for(mod.in_features),
                    cfg.weight_symmetric,
                    scale_bytes,
                    layout,
                )
            elif name in weight_only and pname == "weight":
                rows = p.shape[0]
                sb = quantized_linear_bytes(
                    rows,
                    p.numel() // rows,
                    weight_only[name][1],
                    None,
                    cfg.weight_symmetric,
                    scale_bytes,
                    "rowmajor",
                )
            if sb is not None:
                gb.weight += sb.weight
                gb.scale += sb.scale
                gb.zero += sb.zero
            else:
                gb.high += _nbytes_at(p.numel(), high_bits)
        for _, b in mod.named_buffers(recurse=False):
            gb.buffers += b.numel() * b.element_size()
    out.groups = {k: v for k, v in out.groups.items() if v.total or v.params}
    return out


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class PeakMemory:
    """Resident memory around a call (bytes): before, peak during, after."""

    before: int
    peak: int
    after: int

    @property
    def peak_delta(self) -> int:
        return self.peak - self.before


def _reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark (VmHWM) to the current RSS; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _kernel_peak_rss_bytes() -> int | None:
    """The kernel's own peak RSS of this process (VmHWM, bytes), or None if unreadable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def measure_peak_rss(fn: Callable[[], Any], interval_s: float = 0.0005) -> tuple[Any, PeakMemory]:
    """Run ``fn`` and report this process's resident memory (bytes) before, at peak and after.

    The peak is the kernel's high-water mark (VmHWM), reset just before ``fn`` through
    ``/proc/self/clear_refs``: exact, whatever the scheduler does. A sampling thread
    (every ``interval_s`` seconds) is kept as the fallback where that reset is refused; it
    can miss a spike shorter than the interval, or every spike when ``fn`` holds the GIL
    inside one C++ op on a busy machine. Linux only.
    """
    exact = _reset_peak_rss()
    before = _rss_bytes()
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(interval_s)

    # With the kernel's exact peak, a sampler would only compete with ``fn`` for the CPU.
    t = None if exact else threading.Thread(target=sample, daemon=True)
    if t is not None:
        t.start()
    try:
        result = fn()
    finally:
        stop.set()
        if t is not None:
            t.join()
    after = _rss_bytes()
    top = max(peak[0], after)
    hwm = _kernel_peak_rss_bytes() if exact else None
    if hwm is not None:
        top = max(top, hwm)
    return result, PeakMemory(before, top, after)
