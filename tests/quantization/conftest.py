"""A small VLA-shaped model (vision -> projector -> llm -> action head) for quantization tests."""

import pytest
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, d: int, mlp: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, mlp)
        self.fc2 = nn.Linear(mlp, d)
        self.heads = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        a = nn.functional.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        )
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))


class TinyVLA(nn.Module):
    """Patches [B, P, patch_dim] -> action chunk [B, chunk, 7]."""

    def __init__(self, patch_dim=48, d=64, mlp=128, chunk=4) -> None:
        super().__init__()
        self.chunk = chunk
        self.vision = nn.ModuleDict(
            {"patch_embed": nn.Linear(patch_dim, d), "blocks": nn.ModuleList([Block(d, mlp)])}
        )
        self.projector = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.llm = nn.ModuleDict(
            {
                "layers": nn.ModuleList([Block(d, mlp), Block(d, mlp)]),
                "norm": nn.LayerNorm(d),
            }
        )
        self.queries = nn.Parameter(torch.randn(chunk, d) * 0.1)
        self.action_head = nn.Linear(d, 7)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        x = self.vision["patch_embed"](patches)
        for blk in self.vision["blocks"]:
            x = blk(x)
        x = self.projector(x)
        x = torch.cat([x, self.queries.expand(x.shape[0], -1, -1)], dim=1)
        for blk in self.llm["layers"]:
            x = blk(x)
        x = self.llm["norm"](x)
        return torch.tanh(self.action_head(x[:, -self.chunk :]))


@pytest.fixture
def tiny_vla():
    torch.manual_seed(0)
    return TinyVLA().eval()


@pytest.fixture
def patches():
    torch.manual_seed(1)
    return [torch.randn(2, 16, 48) for _ in range(4)]
