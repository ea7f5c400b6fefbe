"""The GPU kernel benchmark's variants: each one's quantized operands, kernel call and float64 reference.

``build_variant`` returns, for one weight and activation, the call that is timed, the float64
product of the variant's own (dequantized) operands that the call must reproduce, and the bytes
of the stored weight; ``rel_err`` is the check. The int4 path packs for CUDA tinygemm, or for the
CPU kernel (``quantization.kernels``), so the same code is checked without a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from quantization.kernels import w4_int4pack_matmul
from quantization.packing import pack_int4_cpu

VARIANTS: tuple[str, ...] = (
    "bf16",
    "w8a8_int8_mm",
    "w8a8_int8",
    "w8a8_fp8_mm",
    "w8a8_fp8",
    "w4a16",
)
# The cost model's precision name for each variant (ecc.hardware.parse_precision).
PRECISION_OF: dict[str, str] = {
    "bf16": "bf16",
    "w8a8_int8_mm": "w8a8",
    "w8a8_int8": "w8a8",
    "w8a8_fp8_mm": "w8a8",
    "w8a8_fp8": "w8a8",
    "w4a16": "w4a16",
}
NO_KERNEL: dict[str, str] = {
    "w4a8": "no int4-weight x int8-activation GEMM in PyTorch (needs e.g. QQQ / Marlin kernels)",
    "w4a4": "Hopper has no int4 tensor-core path; PyTorch has no W4A4 GEMM",
    "w4a2": "no 2-bit activation GEMM anywhere in PyTorch",
}
# Relative error of a variant against float64 on its own operands (what a correct kernel
# reaches): bf16 accumulation / output rounding, fp8 output in bf16.
KERNEL_TOL: dict[str, float] = {v: 2e-2 for v in VARIANTS}


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    """``||out - ref|| / ||ref||`` in float64 (NaN anywhere gives inf)."""
    o = out.double()
    if not torch.isfinite(o).all():
        return math.inf
    return float((o - ref).norm() / ref.norm().clamp_min(1e-30))


# ---------------------------------------------------------------- quantized operands
def int8_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row symmetric int8 codes and float32 scales ``[rows, 1]``."""
    scale = x.float().abs().amax(-1, keepdim=True).clamp_min(1e-8) / 127.0
    return torch.round(x.float() / scale).clamp_(-127, 127).to(torch.int8), scale


FP8_MAX = 448.0  # e4m3fn


def fp8_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row e4m3 values and float32 scales ``[rows, 1]``."""
    scale = x.float().abs().amax(-1, keepdim=True).clamp_min(1e-8) / FP8_MAX
    return (x.float() / scale).to(torch.float8_e4m3fn), scale


def int4_groups(w: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric 4-bit group codes ``[n, k]`` (0..15) and bf16 (scale, zero) ``[k/g, n]``.

    Dequantization is tinygemm's: ``(q - 8) * scale + zero``.
    """
    n, k = w.shape
    g = w.float().view(n, k // group, group)
    lo, hi = g.amin(-1), g.amax(-1)
    scale = ((hi - lo) / 15).clamp_min(1e-8)
    q = torch.round((g - lo[..., None]) / scale[..., None]).clamp_(0, 15)
    zero = lo + 8 * scale
    return q.view(n, k).to(torch.int32), scale.t().contiguous(), zero.t().contiguous()


def dequant_int4(
    q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, group: int
) -> torch.Tensor:
    s = scale.t().to(torch.float64).repeat_interleave(group, dim=1)
    z = zero.t().to(torch.float64).repeat_interleave(group, dim=1)
    return (q.double() - 8) * s + z


def int4_group_size(k: int) -> int | None:
    """Largest tinygemm group size dividing ``k`` (None: no int4 layout fits)."""
    return next((g for g in (128, 64, 32) if k % g == 0), None)


class Int4Weight:
    """One weight in the device's int4 kernel layout (CUDA tinygemm, or the CPU kernel's)."""

    def __init__(self, w: torch.Tensor, group: int) -> None:
        self.group = group
        self.device = w.device
        q, scale, zero = int4_groups(w, group)
        self.q, self.scale, self.zero = q, scale, zero
        sz = torch.stack([scale, zero], dim=-1).to(torch.bfloat16).contiguous()  # [k/g, n, 2]
        self.scales_zeros = sz
        if w.device.type == "cuda":
            self.packed, self.inner_k_tiles = self._pack_cuda(q)
        else:
            self.packed = pack_int4_cpu(q)
            self.inner_k_tiles = 1

    # Which nibble of a byte holds the even column in tinygemm's input: torch has changed
    # it before, so it is found once per process by checking both against float64.
    _even_high: bool | None = None

    def _pack_cuda(self, q: torch.Tensor) -> tuple[torch.Tensor, int]:
        orders = (True, False) if Int4Weight._even_high is None else (Int4Weight._even_high,)
        for even_high in orders:
            a, b = (q[:, ::2], q[:, 1::2]) if even_high else (q[:, 1::2], q[:, ::2])
            packed, tiles = self._convert((a << 4 | b).to(torch.uint8).contiguous())
            if Int4Weight._even_high is not None:
                return packed, tiles
            probe = torch.randn(4, q.shape[1], device=q.device, dtype=torch.bfloat16)
            got = torch._weight_int4pack_mm(probe, packed, self.group, self.scales_zeros)
            if rel_err(got, probe.double() @ self.dequantized().t()) < 1e-2:
                Int4Weight._even_high = even_high
                return packed, tiles
        raise RuntimeError("neither nibble order reproduces the int4 weight")

    @staticmethod
    def _convert(u8: torch.Tensor) -> tuple[torch.Tensor, int]:
        last: Exception | None = None
        for tiles in (8, 4, 2):
            try:
                return torch._convert_weight_to_int4pack(u8, tiles), tiles
            except RuntimeError as e:  # k must be a multiple of tiles * 16
                last = e
        raise RuntimeError(f"no inner_k_tiles fits k={u8.shape[1] * 2}: {last}")

    @property
    def nbytes(self) -> int:
        return self.packed.numel() * self.packed.element_size() + self.scales_zeros.numel() * 2

    def matmul(self, x_bf16: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            return torch._weight_int4pack_mm(x_bf16, self.packed, self.group, self.scales_zeros)
        return w4_int4pack_matmul(x_bf16, self.packed, self.group, self.scales_zeros)

    def dequantized(self) -> torch.Tensor:
        return dequant_int4(self.q, self.scale, self.zero, self.group)


# ---------------------------------------------------------------- one variant's callable
def _pad_rows(t: torch.Tensor, rows: int) -> torch.Tensor:
    return t if t.shape[0] >= rows else torch.cat([t, t.new_zeros(rows - t.shape[0], *t.shape[1:])])


def build_variant(
    variant: str, w: torch.Tensor, x: torch.Tensor, pad_to: int = 0
) -> tuple[Callable[[], torch.Tensor], torch.Tensor, int]:
    """(call, float64 reference on the variant's own operands, stored weight bytes).

    ``pad_to``: the 8-bit GEMMs get at least that many activation rows (zeros appended;
    cuBLAS's int8 path refuses M <= 16), and the time then includes the padded rows.
    """
    m = x.shape[0]
    xb, wb = x.to(torch.bfloat16), w.to(torch.bfloat16)
    if variant == "bf16":
        ref = xb.double() @ wb.double().t()
        return (lambda: F.linear(xb, wb)), ref, wb.numel() * 2
    if variant.startswith("w8a8_int8") or variant.startswith("w8a8_fp8"):
        rows = int8_rows if "int8" in variant else fp8_rows
        wq, ws = rows(w)  # per output channel
        wq_t = wq.t()  # column-major [k, n], the layout the 8-bit GEMMs take
        wbytes = wq.numel() + 4 * ws.numel()
        xq, xs = rows(xb)
        ref = (xq.double() * xs.double()) @ (wq.double() * ws.double()).t()
        ws_row = ws.t().contiguous()
        xin = _pad_rows(xb, pad_to)
        xq_p, xs_p = rows(xin)
        if "int8" in variant:

            def mm(a: torch.Tensor, sa: torch.Tensor) -> torch.Tensor:
                return (torch._int_mm(a, wq_t) * sa * ws_row).to(torch.bfloat16)

            if variant == "w8a8_int8_mm":
                ref_codes = xq.double() @ wq.double().t()
                return (lambda: torch._int_mm(xq_p, wq_t)[:m]), ref_codes, wbytes
        else:

            def mm(a: torch.Tensor, sa: torch.Tensor) -> torch.Tensor:
                return torch._scaled_mm(
                    a, wq_t, scale_a=sa, scale_b=ws_row, out_dtype=torch.bfloat16
                )

            if variant == "w8a8_fp8_mm":
                return (lambda: mm(xq_p, xs_p)[:m]), ref, wbytes

        def run() -> torch.Tensor:
            return mm(*rows(xin))[:m]

        return run, ref, wbytes
    if variant == "w4a16":
        group = int4_group_size(w.shape[1])
        if group is None:
            raise RuntimeError(f"k={w.shape[1]} is not a multiple of 32")
        q4 = Int4Weight(w, group)
        ref = xb.double() @ q4.dequantized().t()
        return (lambda: q4.matmul(xb)), ref, q4.nbytes
    raise ValueError(f"variant={variant!r}; allowed: {', '.join(VARIANTS)}")
