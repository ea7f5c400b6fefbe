"""Weight-only quantized embedding tables and convolution kernels.

Small policies keep a large share of their bytes outside ``nn.Linear``: pi0-tiny's token
table, FiLM table and conv stem are 11% of its parameters (OpenVLA-7B's embeddings and
LM head: 3.5%). These modules store such weights as integer codes with one scale per row
(embedding: per token; conv: per output channel), reusing :class:`QuantLinear`'s packed
row-major storage, and dequantize on use; ``model_memory_bytes`` counts them through that
storage. There is no integer conv or gather kernel in this path: the saving is memory, not time.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from quantization.errors import QuantConfigError
from quantization.linear import QuantLinear
from quantization.quantizers import WeightQuantSpec


class PackedRows(QuantLinear):
    """Storage of a ``[rows, cols]`` weight as per-row codes; never called as a layer, so
    DyQ's activation switch (:func:`quantization.linear.set_act_bits`) skips it."""

    storage_only = True


def _packed_rows(weight: torch.Tensor, spec: WeightQuantSpec) -> PackedRows:
    rows, cols = weight.shape
    per_row = replace(spec, group_size=None)
    packed = PackedRows(cols, rows, per_row, bias=False, backend="fake", layout="rowmajor")
    packed.load_weight(weight.detach().float())
    return packed.to(weight.device)


class QuantEmbedding(nn.Module):
    """An ``nn.Embedding`` whose table is stored as per-row integer codes.

    ``weight`` is the dequantized fp32 table (a fresh tensor each access), so code that
    ties an output projection to the table (``F.linear(x, embed.weight)``) keeps working.
    """

    def __init__(self, embedding: nn.Embedding, spec: WeightQuantSpec) -> None:
        super().__init__()
        self.num_embeddings = embedding.num_embeddings
        self.embedding_dim = embedding.embedding_dim
        self.padding_idx = embedding.padding_idx
        self.spec = spec
        self.packed = _packed_rows(embedding.weight, spec)

    @property
    def weight(self) -> torch.Tensor:
        return self.packed.dequantized_weight()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, w_bits={self.spec.bits}, per_row"


class QuantConv2d(nn.Module):
    """An ``nn.Conv2d`` whose kernel is stored as integer codes, one scale per output channel."""

    def __init__(self, conv: nn.Conv2d, spec: WeightQuantSpec) -> None:
        super().__init__()
        if conv.padding_mode != "zeros":
            raise QuantConfigError("conv.padding_mode", conv.padding_mode, ("zeros",))
        self.in_channels = conv.in_channels
        self.out_channels = conv.out_channels
        self.kernel_size = conv.kernel_size
        self.stride = conv.stride
        self.padding = conv.padding
        self.dilation = conv.dilation
        self.groups = conv.groups
        self.spec = spec
        self.packed = _packed_rows(conv.weight.reshape(conv.out_channels, -1), spec)
        bias = None if conv.bias is None else conv.bias.detach().float().clone()
        self.register_buffer("bias", bias)

    @property
    def weight(self) -> torch.Tensor:
        """Dequantized fp32 kernel ``[out, in / groups, kh, kw]`` (a fresh tensor)."""
        return self.packed.dequantized_weight().reshape(
            self.out_channels, self.in_channels // self.groups, *self.kernel_size
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(
            x.float(), self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )
        return out.to(x.dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, w_bits={self.spec.bits}, per_out_channel"
        )
