"""``QuantLinear``: one packed low-bit weight copy, run-time switchable activation bits.

The weight is quantized once at construction and stored packed (see
:mod:`quantization.packing`); nothing in ``forward`` writes to or replaces those
buffers, so changing ``act_bits`` between calls (DyQ-VLA's per-step switch) costs
nothing and moves no memory.

Execution path per call (``backend="auto"``):

======================  ====================================================
(weight, act) bits      path
======================  ====================================================
W8 sym per-channel, A8  real: ``torch._int_mm`` (``kernel == "int_mm_w8a8"``)
W4 int4pack layout, A16 real: int4 CPU matmul on bf16 input (``"int4pack_w4a16"``)
W4 int4pack, A8/A4/A2   real int4 matmul fed the *integer* activation grid as
                        bf16 (exact for |code| <= 256), rescaled per token
                        (``"int4pack_w4aX"``): the activation values are exactly
                        the k-bit ones; no W4A4 kernel exists on this CPU, so
                        this path is for accuracy, not speed.
anything else           fake: dequantize weight to fp32, quantize-dequantize
                        activations, ``F.linear`` (``"fake"``)
======================  ====================================================

``backend="fake"`` forces the fake path (accuracy studies at any bit width).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from quantization import kernels, packing
from quantization.errors import QuantConfigError, check_choice
from quantization.quantizers import (
    ACT_BITS,
    IntQuant,
    WeightQuantSpec,
    dequantize_groups,
    fake_quant_activation,
    quantize_groups,
    quantize_weight,
)

log = logging.getLogger(__name__)

BACKENDS = ("auto", "fake")
LAYOUTS = ("auto", "rowmajor", "int4pack_cpu")


@dataclass(frozen=True)
class StorageBytes:
    """Bytes a quantized linear layer keeps resident (bytes)."""

    weight: int
    scale: int
    zero: int
    bias: int
    extra: int = 0  # e.g. SmoothQuant input scales

    @property
    def total(self) -> int:
        return self.weight + self.scale + self.zero + self.bias + self.extra


class QuantLinear(nn.Module):
    """A Linear layer with a packed integer weight and switchable activation precision.

    Args:
        in_features, out_features: layer size.
        spec: weight quantization (bits, group size, symmetry, scale dtype).
        act_bits: activation precision (32 = none, 16 = bf16, 8/4/2 = per-token int).
        act_symmetric: symmetric per-token activation grid (False: asymmetric).
        backend: ``auto`` (real kernels where available) or ``fake``.
        layout: weight storage layout; ``auto`` picks ``int4pack_cpu`` for INT4 when the
            CPU kernel accepts the shape and ``backend`` is ``auto``, else ``rowmajor``.
    """

    # True for weight holders inside weight-only modules (quantization.weight_only) that
    # are never run as a layer: activation-bit switches leave them alone.
    storage_only = False

    def __init__(
        self,
        in_features: int,
        out_features: int,
        spec: WeightQuantSpec,
        bias: bool = True,
        act_bits: int = 16,
        act_symmetric: bool = True,
        backend: str = "auto",
        layout: str = "auto",
    ) -> None:
        super().__init__()
        check_choice("backend", backend, BACKENDS)
        check_choice("layout", layout, LAYOUTS)
        self.in_features = in_features
        self.out_features = out_features
        self.spec = spec
        self._backend = backend
        self.act_symmetric = act_symmetric
        self._act_bits = 16
        self.act_bits = act_bits
        group = spec.group_size if spec.group_size is not None else in_features
        can_int4 = spec.bits == 4 and packing.int4pack_cpu_supported(
            out_features, in_features, group
        )
        if layout == "auto":
            # The kernel layout only pays with the real kernel; the fake path unpacks the
            # plain layout far faster (shifts, no permutation).
            layout = "int4pack_cpu" if can_int4 and backend == "auto" else "rowmajor"
        elif layout == "int4pack_cpu" and not can_int4:
            raise QuantConfigError(
                "layout",
                layout,
                "rowmajor (int4pack_cpu needs bits=4, out_features % 16 == 0 and a "
                "group size in 32/64/128/256 dividing in_features)",
            )
        self.layout = layout
        self.kernel_group = group
        n_groups = 1 if spec.group_size is None else in_features // spec.group_size
        # Placeholders; from_linear/load_quantized fill them.
        if layout == "int4pack_cpu":
            self.register_buffer(
                "qweight", torch.zeros(out_features, in_features // 2, dtype=torch.uint8)
            )
            self.register_buffer(
                "scale_zeros",
                torch.zeros(in_features // group, out_features, 2, dtype=torch.bfloat16),
            )
            self.register_buffer("scale", None)
            self.register_buffer("zero", None)
        else:
            code_dtype = torch.int8 if (spec.bits == 8 and spec.symmetric) else torch.uint8
            width = (
                in_features if spec.bits == 8 else packing.packed_row_bytes(in_features, spec.bits)
            )
            self.register_buffer("qweight", torch.zeros(out_features, width, dtype=code_dtype))
            self.register_buffer(
                "scale", torch.ones(out_features, n_groups, dtype=spec.scale_dtype)
            )
            zero = (
                None if spec.symmetric else torch.zeros(out_features, n_groups, dtype=torch.uint8)
            )
            self.register_buffer("zero", zero)
            self.register_buffer("scale_zeros", None)
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)
        # SmoothQuant migration factors s [in]: forward computes (x / s) (W * s)^T.
        self.register_buffer("input_scale", None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        spec: WeightQuantSpec,
        act_bits: int = 16,
        act_symmetric: bool = True,
        backend: str = "auto",
        layout: str = "auto",
        input_scale: torch.Tensor | None = None,
    ) -> QuantLinear:
        """Quantize an ``nn.Linear``; ``input_scale`` is SmoothQuant's ``s [in]``.

        With ``input_scale`` the layer quantizes ``W * s`` (columns) and divides inputs
        by ``s``, so it still computes ``x W^T`` in exact arithmetic.
        """
        weight = linear.weight.detach().float()
        if input_scale is not None:
            weight = weight * input_scale.float()
        mod = cls(
            linear.in_features,
            linear.out_features,
            spec,
            bias=linear.bias is not None,
            act_bits=act_bits,
            act_symmetric=act_symmetric,
            backend=backend,
            layout=layout,
        )
        mod.load_weight(weight)
        if linear.bias is not None:
            mod.bias.copy_(linear.bias.detach().float())
        if input_scale is not None:
            mod.input_scale = input_scale.detach().float().clone()
        return mod

    @torch.no_grad()
    def load_weight(self, weight: torch.Tensor) -> None:
        """Quantize ``weight [out, in]`` into this layer's existing buffers (in place)."""
        spec = self.spec
        if self.layout == "int4pack_cpu":
            # The kernel wants bf16 scales; quantize against them so the bound holds.
            kspec = replace(spec, bits=4, group_size=self.kernel_group, scale_dtype=torch.bfloat16)
            q = quantize_weight(weight, kspec)
            scale = q.scale.float()  # [n, g, 1]
            if spec.symmetric:
                ucodes = q.codes.to(torch.int32) + 8
                zeros = torch.zeros_like(scale)
            else:
                ucodes = q.codes.to(torch.int32)
                zeros = (8 - q.zero.float()) * scale
            self.qweight.copy_(packing.pack_int4_cpu(ucodes.reshape(self.out_features, -1)))
            sz = torch.cat([scale, zeros], dim=-1).transpose(0, 1)  # [g, n, 2]
            self.scale_zeros.copy_(sz.to(torch.bfloat16))
            return
        q = quantize_weight(weight, spec)
        codes = q.codes.reshape(self.out_features, self.in_features)
        if spec.bits == 8:
            self.qweight.copy_(codes)
        else:
            if spec.symmetric:  # store signed codes offset to unsigned for packing
                codes = (codes.to(torch.int16) + 2 ** (spec.bits - 1)).to(torch.uint8)
            self.qweight.copy_(packing.pack_rowmajor(codes, spec.bits))
        self.scale.copy_(q.scale.reshape(self.out_features, -1))
        if self.zero is not None:
            self.zero.copy_(q.zero.reshape(self.out_features, -1))

    # ------------------------------------------------------------------ inspection
    @property
    def backend(self) -> str:
        """``auto`` (real kernels where available) or ``fake``; settable between calls."""
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        check_choice("backend", value, BACKENDS)
        self._backend = value
        self._path = None

    @property
    def act_bits(self) -> int:
        """Activation precision used by the next forward (bits)."""
        return self._act_bits

    @act_bits.setter
    def act_bits(self, bits: int) -> None:
        check_choice("act_bits", bits, ACT_BITS)
        self._act_bits = int(bits)
        self._path: str | None = None  # resolved lazily: buffers may not be loaded yet

    def codes(self) -> torch.Tensor:
        """Integer weight codes ``[out, in]`` as stored semantics (signed if symmetric)."""
        n, k, bits = self.out_features, self.in_features, self.spec.bits
        if self.layout == "int4pack_cpu":
            u = packing.unpack_int4_cpu(self.qweight, n, k).to(torch.int16)
            return u - 8 if self.spec.symmetric else u
        if bits == 8:
            return self.qweight.to(torch.int16)
        u = packing.unpack_rowmajor(self.qweight, bits, k).to(torch.int16)
        return u - 2 ** (bits - 1) if self.spec.symmetric else u

    def int_quant(self) -> IntQuant:
        """The stored weight as an :class:`IntQuant` with ``[n, groups, group]`` codes."""
        n, k = self.out_features, self.in_features
        if self.layout == "int4pack_cpu":
            g = k // self.kernel_group
            scale = self.scale_zeros[..., 0].transpose(0, 1).reshape(n, g, 1)
            codes = self.codes().reshape(n, g, self.kernel_group)
            if self.spec.symmetric:
                return IntQuant(codes, scale, None, 4, True)
            # zero_float = (8 - zp) * scale  ->  zp = 8 - zero_float / scale
            zf = self.scale_zeros[..., 1].transpose(0, 1).reshape(n, g, 1).float()
            zp = 8 - zf / scale.float()
            return IntQuant(codes, scale, zp, 4, False)
        g = self.scale.shape[1]
        codes = self.codes().reshape(n, g, -1)
        zero = None if self.zero is None else self.zero.reshape(n, g, 1)
        return IntQuant(
            codes, self.scale.reshape(n, g, 1), zero, self.spec.bits, self.spec.symmetric
        )

    def dequantized_weight(self) -> torch.Tensor:
        """Float32 weight ``[out, in]`` the integer codes represent (a fresh tensor)."""
        w = dequantize_groups(self.int_quant()).reshape(self.out_features, self.in_features)
        if self.input_scale is not None:
            w = w / self.input_scale
        return w

    def storage_bytes(self) -> StorageBytes:
        """Exact resident bytes of this layer's buffers."""

        def nb(t: torch.Tensor | None) -> int:
            return 0 if t is None else t.numel() * t.element_size()

        if self.layout == "int4pack_cpu":
            # scale and float zero live interleaved in one bf16 tensor; split it evenly.
            half = nb(self.scale_zeros) // 2
            zero = half if not self.spec.symmetric else 0
            scale = nb(self.scale_zeros) - zero
            return StorageBytes(nb(self.qweight), scale, zero, nb(self.bias), nb(self.input_scale))
        return StorageBytes(
            nb(self.qweight), nb(self.scale), nb(self.zero), nb(self.bias), nb(self.input_scale)
        )

    def kernel_for(self, act_bits: int | None = None) -> str:
        """Name of the path a forward at ``act_bits`` takes (``fake`` or a real kernel)."""
        bits = self._act_bits if act_bits is None else act_bits
        if self._backend == "fake":
            return "fake"
        if (
            self.spec.bits == 8
            and self.spec.symmetric
            and self.spec.group_size is None
            and bits == 8
            and self.act_symmetric
            and kernels.int_mm_supported(self.in_features, self.out_features)
        ):
            return "int_mm_w8a8"
        if self.layout == "int4pack_cpu":
            if bits == 16:
                return "int4pack_w4a16"
            if bits in (2, 4, 8):
                return "int4pack_w4aX"
        return "fake"

    def extra_repr(self) -> str:
        return (
            f"in={self.in_features}, out={self.out_features}, w_bits={self.spec.bits}, "
            f"group={self.spec.group_size}, sym={self.spec.symmetric}, act_bits={self._act_bits}, "
            f"layout={self.layout}, backend={self.backend}"
        )

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x2d = x.reshape(-1, self.in_features).float()
        if self.input_scale is not None:
            x2d = x2d / self.input_scale
        path = self._path
        if path is None:
            path = self._path = self.kernel_for()
        if path == "int_mm_w8a8":
            # fp16 scales promote to fp32 inside the kernel's multiply: no extra copy kept.
            out = kernels.w8a8_linear(x2d, self.qweight, self.scale[:, 0], self.bias)
        elif path == "int4pack_w4a16":
            out = kernels.w4_int4pack_matmul(
                x2d.to(torch.bfloat16), self.qweight, self.kernel_group, self.scale_zeros
            ).float()
            if self.bias is not None:
                out = out + self.bias
        elif path == "int4pack_w4aX":
            q = quantize_groups(x2d, self._act_bits, self.act_symmetric)
            grid = q.codes.float() if q.zero is None else q.codes.float() - q.zero.float()
            out = (
                kernels.w4_int4pack_matmul(
                    grid.to(torch.bfloat16), self.qweight, self.kernel_group, self.scale_zeros
                ).float()
                * q.scale.float()
            )
            if self.bias is not None:
                out = out + self.bias
        else:
            xq = fake_quant_activation(x2d, self._act_bits, self.act_symmetric)
            w = dequantize_groups(self.int_quant()).reshape(self.out_features, self.in_features)
            out = F.linear(xq, w, self.bias)
        return out.reshape(*lead, self.out_features).to(x.dtype)


def quant_linears(model: nn.Module) -> list[QuantLinear]:
    """All :class:`QuantLinear` layers in ``model`` (weight-only storage holders excluded)."""
    return [m for m in model.modules() if isinstance(m, QuantLinear) and not m.storage_only]


def set_act_bits(model: nn.Module, bits: int) -> int:
    """Set ``act_bits`` on every QuantLinear of ``model``; returns how many were set."""
    check_choice("act_bits", bits, ACT_BITS)
    mods = quant_linears(model)
    for m in mods:
        m.act_bits = bits
    return len(mods)
