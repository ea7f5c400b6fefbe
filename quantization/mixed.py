"""``MixedQuantLinear``: output channels of one Linear at different weight bit widths.

Channels sharing a bit width form one :class:`QuantLinear` part (one packed copy each);
the forward concatenates the parts and restores the original channel order with a stored
index. Used by the channel-wise QVLA allocation.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from quantization.linear import QuantLinear, StorageBytes
from quantization.quantizers import WeightQuantSpec


class MixedQuantLinear(nn.Module):
    """A Linear whose output channels carry per-channel weight bits (2/4/8).

    ``bits_per_channel [out]`` gives each output channel's bits; ``spec`` supplies the
    group size, symmetry and scale dtype shared by every part.
    """

    def __init__(
        self,
        linear: nn.Linear,
        bits_per_channel: torch.Tensor,
        spec: WeightQuantSpec,
        act_bits: int = 16,
        act_symmetric: bool = True,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        bits_per_channel = torch.as_tensor(bits_per_channel).reshape(-1)
        order = []
        self.parts = nn.ModuleDict()
        w = linear.weight.detach()
        b = linear.bias.detach() if linear.bias is not None else None
        for bits in sorted({int(v) for v in bits_per_channel.tolist()}):
            idx = torch.nonzero(bits_per_channel == bits).reshape(-1)
            sub = nn.Linear(self.in_features, len(idx), bias=b is not None)
            with torch.no_grad():
                sub.weight.copy_(w[idx])
                if b is not None:
                    sub.bias.copy_(b[idx])
            part_spec = replace(spec, bits=bits)
            self.parts[f"w{bits}"] = QuantLinear.from_linear(
                sub, part_spec, act_bits=act_bits, act_symmetric=act_symmetric, backend=backend
            )
            order.append(idx)
        # inverse permutation: output column j of the concatenation -> original channel
        perm = torch.cat(order)
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(len(perm))
        self.register_buffer("inverse_order", inv.to(torch.int32))
        self.register_buffer("bits_per_channel", bits_per_channel.to(torch.uint8))

    @property
    def act_bits(self) -> int:
        return next(iter(self.parts.values())).act_bits

    @act_bits.setter
    def act_bits(self, bits: int) -> None:
        for p in self.parts.values():
            p.act_bits = bits

    def mean_bits(self) -> float:
        """Average weight bits over output channels."""
        return float(self.bits_per_channel.float().mean())

    def storage_bytes(self) -> StorageBytes:
        """Bytes of every part plus the channel-order and bit-width indices (bytes)."""
        parts = [p.storage_bytes() for p in self.parts.values()]
        extra = sum(
            t.numel() * t.element_size() for t in (self.inverse_order, self.bits_per_channel)
        )
        return StorageBytes(
            sum(p.weight for p in parts),
            sum(p.scale for p in parts),
            sum(p.zero for p in parts),
            sum(p.bias for p in parts),
            sum(p.extra for p in parts) + extra,
        )

    def dequantized_weight(self) -> torch.Tensor:
        """Float32 ``[out, in]`` weight in the original channel order."""
        w = torch.cat([p.dequantized_weight() for p in self.parts.values()])
        return w.index_select(0, self.inverse_order.long())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([p(x) for p in self.parts.values()], dim=-1)
        return out.index_select(-1, self.inverse_order.long())
