"""Real low-precision CPU kernels available in this torch build.

- W8A8: ``torch._int_mm`` (int8 x int8 -> int32, oneDNN/VNNI on x86) on per-token
  symmetric int8 activations and per-output-channel symmetric int8 weights, rescaled
  by ``scale_x * scale_w``.
- W4A16: ``torch.ops.aten._weight_int4pack_mm_for_cpu`` with bfloat16 activations and
  group-wise bf16 ``(scale, zero)`` pairs, dequant ``(q - 8) * scale + zero``.

A kernel that fails on a shape is reported as unavailable for that shape; callers then
take the fake path (see :mod:`quantization.linear`).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import torch

log = logging.getLogger(__name__)


@lru_cache(maxsize=256)
def int_mm_supported(k: int, n: int) -> bool:
    """Whether ``torch._int_mm`` runs an ``[m, k] x [k, n]`` product here (probed once per shape)."""
    if not hasattr(torch, "_int_mm"):
        return False
    try:
        a = torch.zeros(1, k, dtype=torch.int8)
        b = torch.zeros(n, k, dtype=torch.int8).t()
        torch._int_mm(a, b)
    except RuntimeError as e:  # shape/ISA limits differ between builds
        log.info("torch._int_mm unavailable for k=%d n=%d: %s", k, n, e)
        return False
    return True


def quantize_tokens_int8(x2d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token symmetric int8 codes and fp32 scales ``[m, 1]`` of a 2-D activation."""
    scale = x2d.abs().amax(-1, keepdim=True).clamp_min_(1e-8).div_(127.0)
    # In-place chain: at tiny widths allocation and dispatch, not arithmetic, dominate.
    # No clamp needed: |x| <= amax, so |x / scale| <= 127 up to one ulp, which rounds to 127.
    codes = torch.div(x2d, scale).round_().to(torch.int8)
    return codes, scale


def w8a8_linear(
    x2d: torch.Tensor, qweight: torch.Tensor, wscale: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """``x2d [m, k] fp32`` times an int8 ``qweight [n, k]`` with per-channel ``wscale [n]`` (fp16/fp32)."""
    codes, xs = quantize_tokens_int8(x2d)
    acc = torch._int_mm(codes, qweight.t())
    out = acc * xs  # int32 * fp32 promotes to fp32 in one op
    out.mul_(wscale)
    if bias is not None:
        out.add_(bias)
    return out


def w4_int4pack_matmul(
    x2d_bf16: torch.Tensor, packed: torch.Tensor, group_size: int, scale_zeros: torch.Tensor
) -> torch.Tensor:
    """bf16 ``[m, k]`` times the int4-packed weight; returns bf16 ``[m, n]``."""
    return torch.ops.aten._weight_int4pack_mm_for_cpu(
        x2d_bf16.contiguous(), packed, group_size, scale_zeros
    )
