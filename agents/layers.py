"""Transformer building blocks shared by every VLA family (plain ``nn.Module``s).

One ``Block`` class covers Llama/Gemma decoder layers, ViT blocks and DiT blocks;
the differences (norm type, gated MLP, biases, RoPE, LayerScale) are arguments, so
a stage's cost depends only on its shape. Attention uses
``F.scaled_dot_product_attention`` with an explicit boolean mask (True = attend).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from agents.errors import ObservationError
from agents.shapes import DecoderShape, ProjectorShape, ViTShape


class RMSNorm(nn.Module):
    """Root-mean-square norm (Llama); ``eps`` guards against division by zero."""

    def __init__(self, dim: int, eps: float = 1e-6, device: torch.device | None = None) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + self.eps) * self.weight


def make_norm(kind: str, dim: int, device: torch.device | None = None) -> nn.Module:
    """RMSNorm (``rms``) or LayerNorm with bias (``layer``)."""
    if kind == "rms":
        return RMSNorm(dim, device=device)
    return nn.LayerNorm(dim, eps=1e-6, device=device)


def rope_cos_sin(
    positions: torch.Tensor, head_dim: int, theta: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [S, head_dim] for integer ``positions`` [S] (rotate-half layout)."""
    inv = 1.0 / (
        theta
        ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim)
    )
    freqs = positions.to(torch.float32)[:, None] * inv[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` [B, H, S, D] by the position tables [S, D].

    The tables are computed in fp32 (angles lose precision in bf16) and applied in ``x``'s
    dtype, so q and k stay in the dtype of v (attention kernels require one dtype).
    """
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


@dataclass(frozen=True)
class BlockConfig:
    """Everything one transformer block needs; built from a DecoderShape or a ViTShape."""

    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    mlp_act: str = "silu"
    gated_mlp: bool = True
    norm: str = "rms"
    bias: bool = False
    rope: bool = True
    layer_scale: bool = False

    @staticmethod
    def from_decoder(d: DecoderShape) -> BlockConfig:
        return BlockConfig(
            hidden=d.hidden,
            heads=d.heads,
            kv_heads=d.kv_heads,
            head_dim=d.head_dim,
            intermediate=d.intermediate,
            mlp_act=d.mlp_act,
            gated_mlp=d.gated_mlp,
            norm=d.norm,
            bias=d.bias,
            rope=d.rope,
        )

    @staticmethod
    def from_vit(v: ViTShape) -> BlockConfig:
        return BlockConfig(
            hidden=v.hidden,
            heads=v.heads,
            kv_heads=v.heads,
            head_dim=v.hidden // v.heads,
            intermediate=v.mlp,
            mlp_act="gelu",
            gated_mlp=False,
            norm="layer",
            bias=True,
            rope=False,
            layer_scale=v.layer_scale,
        )


def _act(name: str, x: torch.Tensor) -> torch.Tensor:
    return F.silu(x) if name == "silu" else F.gelu(x, approximate="tanh")


class MLP(nn.Module):
    """Gated (SwiGLU/GeGLU: 3 linears) or plain (fc1 -> act -> fc2) feed-forward."""

    def __init__(self, cfg: BlockConfig, device: torch.device | None = None) -> None:
        super().__init__()
        self.act = cfg.mlp_act
        self.gated = cfg.gated_mlp
        if cfg.gated_mlp:
            self.gate = nn.Linear(cfg.hidden, cfg.intermediate, bias=cfg.bias, device=device)
        self.up = nn.Linear(cfg.hidden, cfg.intermediate, bias=cfg.bias, device=device)
        self.down = nn.Linear(cfg.intermediate, cfg.hidden, bias=cfg.bias, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            return self.down(_act(self.act, self.gate(x)) * self.up(x))
        return self.down(_act(self.act, self.up(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)); x + mlp(norm(x)).

    ``forward`` returns the new hidden state and the full key/value tensors
    ([B, kv_heads, past+S, head_dim]) so callers can keep them as a KV cache.
    """

    def __init__(self, cfg: BlockConfig, device: torch.device | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        inner = cfg.heads * cfg.head_dim
        kv_inner = cfg.kv_heads * cfg.head_dim
        self.norm1 = make_norm(cfg.norm, cfg.hidden, device)
        self.q = nn.Linear(cfg.hidden, inner, bias=cfg.bias, device=device)
        self.k = nn.Linear(cfg.hidden, kv_inner, bias=cfg.bias, device=device)
        self.v = nn.Linear(cfg.hidden, kv_inner, bias=cfg.bias, device=device)
        self.o = nn.Linear(inner, cfg.hidden, bias=cfg.bias, device=device)
        self.norm2 = make_norm(cfg.norm, cfg.hidden, device)
        self.mlp = MLP(cfg, device)
        if cfg.layer_scale:
            self.ls1 = nn.Parameter(torch.ones(cfg.hidden, device=device))
            self.ls2 = nn.Parameter(torch.ones(cfg.hidden, device=device))

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        past_k: torch.Tensor | None = None,
        past_v: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        b, s, _ = x.shape
        h = self.norm1(x)
        q = self.q(h).view(b, s, cfg.heads, cfg.head_dim).transpose(1, 2)
        k = self.k(h).view(b, s, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        v = self.v(h).view(b, s, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        if cfg.rope:
            if positions is None:
                raise TypeError("Block with rope=True needs positions")
            cos, sin = rope_cos_sin(positions, cfg.head_dim)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        rep = cfg.heads // cfg.kv_heads
        kk = k.repeat_interleave(rep, dim=1) if rep > 1 else k
        vv = v.repeat_interleave(rep, dim=1) if rep > 1 else v
        att = F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask)
        att = self.o(att.transpose(1, 2).reshape(b, s, cfg.heads * cfg.head_dim))
        if cfg.layer_scale:
            att = att * self.ls1
        x = x + att
        m = self.mlp(self.norm2(x))
        if cfg.layer_scale:
            m = m * self.ls2
        return x + m, k, v


class MAPHead(nn.Module):
    """SigLIP multi-head attention pooling head. Built so parameter counts match; never run."""

    def __init__(self, v: ViTShape, device: torch.device | None = None) -> None:
        super().__init__()
        d = v.hidden
        self.latent = nn.Parameter(torch.zeros(1, 1, d, device=device))
        self.q = nn.Linear(d, d, device=device)
        self.kv = nn.Linear(d, 2 * d, device=device)
        self.proj = nn.Linear(d, d, device=device)
        self.norm = nn.LayerNorm(d, device=device)
        self.mlp = MLP(BlockConfig.from_vit(v), device)


class PatchEmbed(nn.Module):
    """(Optionally FiLM-conditioned) conv stem, conv patchify, learned positions and
    CLS/register tokens (prepended); optionally the stem's spatial-softmax keypoints."""

    def __init__(self, v: ViTShape, device: torch.device | None = None) -> None:
        super().__init__()
        stem: list[nn.Module] = []
        c_in = v.channels
        for c in v.conv_stem:
            stem += [nn.Conv2d(c_in, c, 3, stride=2, padding=1, device=device), nn.GELU()]
            c_in = c
        self.stem = nn.Sequential(*stem)
        if v.film_vocab:
            self.film_embed = nn.Embedding(v.film_vocab, c_in, device=device)
            self.film = nn.Linear(c_in, 2 * sum(v.conv_stem), device=device)
        self.with_keypoints = v.keypoints
        k = v.patchify_kernel
        self.proj = nn.Conv2d(c_in, v.hidden, k, stride=k, device=device)
        self.pos = nn.Parameter(torch.zeros(1, v.num_patches, v.hidden, device=device))
        self.n_prefix = v.cls_tokens + v.register_tokens
        if self.n_prefix:
            self.prefix = nn.Parameter(torch.zeros(1, self.n_prefix, v.hidden, device=device))

    def forward(self, images: torch.Tensor, tokens: torch.Tensor | None = None) -> torch.Tensor:
        """images [N, C, H, W] (normalised floats), tokens [B, prompt] long with N = B * cams
        (needed when FiLM-conditioned) -> tokens [N, prefix + patches, hidden]."""
        return self.embed_and_keypoints(images, tokens)[0]

    def embed_and_keypoints(
        self, images: torch.Tensor, tokens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(tokens [N, prefix + patches, hidden], keypoints [N, keypoint_dim] or None)."""
        x = images
        film = None
        if hasattr(self, "film"):
            if tokens is None:
                raise ObservationError("a FiLM-conditioned vision tower needs input 'tokens'")
            # Sum / sqrt(length): the one word that names the object keeps unit weight; a mean
            # would shrink it by the prompt length and the stem would barely see it.
            words = self.film_embed(tokens).sum(dim=1) / math.sqrt(tokens.shape[1])
            cond = self.film(words)
            film = cond.repeat_interleave(images.shape[0] // tokens.shape[0], dim=0)
        offset = 0
        for conv, act in zip(self.stem[0::2], self.stem[1::2], strict=True):
            x = act(conv(x))
            if film is not None:
                c = conv.out_channels
                scale = film[:, offset : offset + c, None, None]
                shift = film[:, offset + c : offset + 2 * c, None, None]
                x = x * (1.0 + scale) + shift
                offset += 2 * c
        out = self.proj(x).flatten(2).transpose(1, 2) + self.pos
        if self.n_prefix:
            out = torch.cat([self.prefix.expand(out.shape[0], -1, -1), out], dim=1)
        return out, (spatial_softmax(x) if self.with_keypoints else None)


def spatial_softmax(x: torch.Tensor) -> torch.Tensor:
    """Expected (x, y) in [-1, 1] of each channel's softmax over the grid: [N, C, H, W] -> [N, 2C]."""
    n, c, h, w = x.shape
    p = F.softmax(x.reshape(n, c, h * w), dim=-1).reshape(n, c, h, w)
    xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
    ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
    return torch.cat([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], dim=-1)


class VisionTower(nn.Module):
    """A ViT: patch embedding and blocks. The final norm lives in the projector."""

    def __init__(self, v: ViTShape, device: torch.device | None = None) -> None:
        super().__init__()
        self.shape = v
        self.embed = PatchEmbed(v, device)
        cfg = BlockConfig.from_vit(v)
        self.blocks = nn.ModuleList(Block(cfg, device) for _ in range(v.layers))
        if v.attn_pool:
            self.pool = MAPHead(v, device)


def pixel_shuffle_tokens(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Space-to-depth on a square token grid: [N, P, D] -> [N, P / f^2, D * f^2]."""
    if factor == 1:
        return x
    n, p, d = x.shape
    side = math.isqrt(p)
    x = x.view(n, side // factor, factor, side // factor, factor, d).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, p // factor**2, d * factor**2)


class Projector(nn.Module):
    """Per-tower final norms, channel concatenation, then an MLP to the LLM width."""

    def __init__(
        self, towers: tuple[ViTShape, ...], p: ProjectorShape, device: torch.device | None = None
    ) -> None:
        super().__init__()
        self.towers = towers
        self.norms = nn.ModuleDict(
            {
                v.name: nn.LayerNorm(v.hidden, eps=1e-6, device=device)
                for v in towers
                if v.final_norm
            }
        )
        # Keypoints of each tower's stem -> LLM width, added to every vision token of the image.
        self.keypoints = nn.ModuleDict(
            {
                v.name: nn.Linear(v.keypoint_dim, p.dims[-1], device=device)
                for v in towers
                if v.keypoint_dim
            }
        )
        dims = p.dims
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1], device=device))
            if i < len(dims) - 2:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)

    def forward(
        self,
        feats: dict[str, torch.Tensor],
        cameras: int,
        keypoints: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """feats[name]: [B*cams, prefix+patches, hidden], keypoints[name]: [B*cams, keypoint_dim]
        (towers with keypoints) -> [B, cams*tokens_out, out_dim]."""
        parts = []
        for v in self.towers:
            x = feats[v.name][:, v.cls_tokens + v.register_tokens :]
            if v.post_norm and v.final_norm:
                x = self.norms[v.name](x)
            parts.append(pixel_shuffle_tokens(x, v.pixel_shuffle))
        x = torch.cat(parts, dim=-1)
        x = self.mlp(x)
        for name, proj in self.keypoints.items():
            x = x + proj(keypoints[name])[:, None, :]
        n, t, d = x.shape
        return x.reshape(n // cameras, cameras * t, d)


class MLPResNet(nn.Module):
    """OFT's L1 regression head: LN -> fc -> ReLU, residual blocks, LN -> fc out."""

    def __init__(
        self,
        in_dim: int,
        hidden: int,
        out_dim: int,
        blocks: int,
        device: torch.device | None = None,
    ) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(in_dim, device=device)
        self.fc_in = nn.Linear(in_dim, hidden, device=device)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(hidden, device=device),
                nn.Linear(hidden, hidden, device=device),
                nn.ReLU(),
            )
            for _ in range(blocks)
        )
        self.norm_out = nn.LayerNorm(hidden, device=device)
        self.fc_out = nn.Linear(hidden, out_dim, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc_in(self.norm_in(x)))
        for blk in self.blocks:
            x = x + blk(x)
        return self.fc_out(self.norm_out(x))


def sinusoidal(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of scalar times ``t`` [B] -> [B, dim], in fp32 (callers cast)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.to(torch.float32)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
