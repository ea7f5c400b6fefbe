"""Weight and activation quantizers (integer grids, scales, zero points).

Conventions (shared by the fake and real execution paths):

- Symmetric ``b``-bit: ``qmax = 2**(b-1) - 1``, ``scale = amax / qmax``, codes in
  ``[-qmax, qmax]`` (INT2 symmetric therefore has 3 levels; use asymmetric INT2 for 4).
- Asymmetric ``b``-bit: the range is widened to include 0, ``scale = (max - min) / (2**b - 1)``,
  integer ``zero = round(-min / scale)``, codes in ``[0, 2**b - 1]``.
- Both guarantee ``|x - dequant(quant(x))| <= scale / 2`` elementwise; the scale used is
  the *stored* (rounded to ``scale_dtype``) one, nudged up when rounding shrank it,
  so the bound holds for the stored representation too.
- Weights: granularity per output channel (``group_size=None``) or per group of
  ``group_size`` consecutive input channels. Optional clip search (``clip_search=n``) shrinks
  each group's range to the ratio in ``{1, 1 - 0.5/n, ..., 0.5}`` with the least squared
  error: lower mean error, but values beyond the clipped range exceed ``scale / 2`` (the
  bound above holds for the default ``clip_search=0``).
- Activations: dynamic per token (last dim), recomputed every call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from quantization.errors import QuantConfigError, QuantShapeError, check_choice

WEIGHT_BITS = (2, 4, 8)
ACT_BITS = (2, 4, 8, 16, 32)
_EPS = 1e-8


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """Integer code range ``(qmin, qmax)`` for a bit width and symmetry."""
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        return -qmax, qmax
    return 0, 2**bits - 1


def _stored_scale(scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Round ``scale`` to ``dtype`` without shrinking it (shrinking would clip codes)."""
    stored = scale.to(dtype)
    low = stored.float() < scale
    if bool(low.any()):
        stored = torch.where(
            low, torch.nextafter(stored, torch.full_like(stored, torch.inf)), stored
        )
    return stored


@dataclass
class IntQuant:
    """Integer codes plus the parameters that map them back to floats.

    ``codes`` are unsigned for asymmetric and signed for symmetric quantization;
    ``scale``/``zero`` broadcast against ``codes`` reshaped to ``[..., groups, group]``.
    """

    codes: torch.Tensor
    scale: torch.Tensor
    zero: torch.Tensor | None
    bits: int
    symmetric: bool


def quantize_groups(
    x: torch.Tensor,
    bits: int,
    symmetric: bool,
    scale_dtype: torch.dtype = torch.float32,
    clip_search: int = 0,
) -> IntQuant:
    """Quantize along the last dim of ``x`` (each slice ``x[..., :]`` is one group).

    ``clip_search``: number of shrunken ranges tried per group besides the full one
    (0 = the group's own min/max, no search).
    """
    xf = x.float()
    if clip_search <= 0:
        return _quantize_range(xf, bits, symmetric, scale_dtype, None)
    best_err = best_ratio = None
    for ratio in torch.linspace(1.0, 0.5, clip_search + 1).tolist():
        r = torch.full((*xf.shape[:-1], 1), ratio, device=xf.device)
        err = dequantize_groups(_quantize_range(xf, bits, symmetric, scale_dtype, r)) - xf
        err = err.square().sum(-1, keepdim=True)
        if best_err is None:
            best_err, best_ratio = err, r
        else:
            better = err < best_err  # strict: ties keep the wider range
            best_err = torch.where(better, err, best_err)
            best_ratio = torch.where(better, r, best_ratio)
    return _quantize_range(xf, bits, symmetric, scale_dtype, best_ratio)


def _quantize_range(
    xf: torch.Tensor,
    bits: int,
    symmetric: bool,
    scale_dtype: torch.dtype,
    ratio: torch.Tensor | None,
) -> IntQuant:
    """Quantize to each group's range, shrunk by ``ratio`` (per group, ``<= 1``) if given."""
    qmin, qmax = qrange(bits, symmetric)
    if symmetric:
        amax = xf.abs().amax(-1, keepdim=True)
        if ratio is not None:
            amax = amax * ratio
        scale = (amax / qmax).clamp_min(_EPS)
        scale_s = _stored_scale(scale, scale_dtype)
        codes = torch.clamp(torch.round(xf / scale_s.float()), qmin, qmax)
        return IntQuant(codes.to(torch.int8), scale_s, None, bits, True)
    lo = xf.amin(-1, keepdim=True).clamp_max(0.0)
    hi = xf.amax(-1, keepdim=True).clamp_min(0.0)
    if ratio is not None:
        lo, hi = lo * ratio, hi * ratio
    scale = ((hi - lo) / qmax).clamp_min(_EPS)
    scale_s = _stored_scale(scale, scale_dtype)
    zero = torch.clamp(torch.round(-lo / scale_s.float()), qmin, qmax)
    codes = torch.clamp(torch.round(xf / scale_s.float()) + zero, qmin, qmax)
    return IntQuant(codes.to(torch.uint8), scale_s, zero.to(torch.uint8), bits, False)


def dequantize_groups(q: IntQuant) -> torch.Tensor:
    """Float32 values of an :class:`IntQuant` (same shape as its codes)."""
    codes = q.codes.float()
    if q.zero is not None:
        codes = codes - q.zero.float()
    return codes * q.scale.float()


@dataclass(frozen=True)
class WeightQuantSpec:
    """How a weight matrix is quantized.

    bits: 2, 4 or 8. group_size: input channels per scale (None = one scale per
    output channel). symmetric: signed codes, no zero point. scale_dtype: storage
    dtype of scales (and of float zeros in the int4 kernel layout). clip_search: shrunken
    ranges tried per group, least squared error wins (0 = no search; see module doc).
    """

    bits: int = 8
    group_size: int | None = None
    symmetric: bool = True
    scale_dtype: torch.dtype = torch.float16
    clip_search: int = 0

    def __post_init__(self) -> None:
        check_choice("weight_bits", self.bits, WEIGHT_BITS)
        if self.group_size is not None and (
            not isinstance(self.group_size, int) or self.group_size <= 0
        ):
            raise QuantConfigError("group_size", self.group_size, "a positive int or None")
        check_choice(
            "scale_dtype", self.scale_dtype, (torch.float16, torch.bfloat16, torch.float32)
        )
        if not isinstance(self.clip_search, int) or self.clip_search < 0:
            raise QuantConfigError("clip_search", self.clip_search, "an int >= 0")


def weight_groups(weight: torch.Tensor, group_size: int | None) -> torch.Tensor:
    """Reshape ``[n, k]`` to ``[n, groups, group]`` (per-channel: one group of ``k``)."""
    if weight.dim() != 2:
        raise QuantShapeError(f"weight must be 2-D [out, in], got {tuple(weight.shape)}")
    n, k = weight.shape
    if group_size is None:
        return weight.reshape(n, 1, k)
    if k % group_size:
        raise QuantShapeError(
            f"in_features={k} is not a multiple of group_size={group_size}; "
            "choose a group_size that divides the input dimension or None (per channel)"
        )
    return weight.reshape(n, k // group_size, group_size)


def quantize_weight(weight: torch.Tensor, spec: WeightQuantSpec) -> IntQuant:
    """Quantize a ``[n, k]`` weight; codes come back as ``[n, groups, group]``."""
    return quantize_groups(
        weight_groups(weight.detach(), spec.group_size),
        spec.bits,
        spec.symmetric,
        spec.scale_dtype,
        spec.clip_search,
    )


def weight_error_bound(q: IntQuant) -> torch.Tensor:
    """Elementwise worst-case round-trip error, ``scale / 2`` per group (no clip search)."""
    return q.scale.float() / 2


def fake_quant_activation(x: torch.Tensor, bits: int, symmetric: bool = True) -> torch.Tensor:
    """Quantize-dequantize activations per token (last dim) at ``bits``.

    32 leaves ``x`` as is; 16 rounds to bfloat16; 8/4/2 use a dynamic integer grid.
    """
    check_choice("act_bits", bits, ACT_BITS)
    if bits == 32:
        return x
    if bits == 16:
        return x.to(torch.bfloat16).to(x.dtype)
    return dequantize_groups(quantize_groups(x, bits, symmetric)).to(x.dtype)
