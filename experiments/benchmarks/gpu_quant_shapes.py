"""The layer shapes the GPU kernel benchmark times: every distinct linear of the real LLM backbones.

``real_shapes`` collects the decoder-block linears (q, k, v, o, gate / up or fc1, down) of the
named models of ``agents.zoo.REAL_SHAPES`` with the token counts M each is timed at (1, 16, 64
and the model's prefix length); ``quick_shapes`` three tiny layers for a CPU check. Imports
nothing beyond the standard library at module top, so ``gpu_quant_kernels`` runs without Hydra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LinearShape:
    """One distinct linear layer: ``k`` inputs, ``n`` outputs, and where it occurs."""

    k: int
    n: int
    users: tuple[str, ...]  # "model:layer-name x count-per-block"
    ms: tuple[int, ...]  # token counts it is timed at


def llm_linears(llm: Any) -> list[tuple[str, int, int]]:
    """(name, k, n) of one decoder block's linears (Llama / Gemma layout of agents.shapes)."""
    hd = llm.head_dim
    q, kv = llm.heads * hd, llm.kv_heads * hd
    out = [("q", llm.hidden, q), ("k", llm.hidden, kv), ("v", llm.hidden, kv), ("o", q, llm.hidden)]
    if llm.gated_mlp:
        out += [("gate", llm.hidden, llm.intermediate), ("up", llm.hidden, llm.intermediate)]
    else:
        out += [("fc1", llm.hidden, llm.intermediate)]
    out.append(("down", llm.intermediate, llm.hidden))
    return out


def prefix_tokens(shape: Any) -> int:
    """Tokens of one forward's prefix: vision + prompt (+ a proprio token where it sits there)."""
    return int(shape.vision_tokens + shape.prompt_tokens + (1 if shape.proprio_in_prefix else 0))


def real_shapes(models: tuple[str, ...]) -> tuple[list[LinearShape], dict[str, dict]]:
    """Distinct linears of the named models' LLMs, and per model its block layout and M values."""
    from agents.zoo import get_shape

    by_kn: dict[tuple[int, int], tuple[list[str], set[int]]] = {}
    layout: dict[str, dict] = {}
    for name in models:
        s = get_shape(name)
        p = prefix_tokens(s)
        block = llm_linears(s.llm)
        layout[name] = {"layers": s.llm.layers, "prefix_tokens": p, "block": block}
        for lname, k, n in block:
            users, ms = by_kn.setdefault((k, n), ([], {1, 16, 64}))
            users.append(f"{name}:{lname}")
            ms.add(p)
    shapes = [
        LinearShape(k, n, tuple(u), tuple(sorted(ms))) for (k, n), (u, ms) in sorted(by_kn.items())
    ]
    return shapes, layout


def quick_shapes() -> tuple[list[LinearShape], dict[str, dict]]:
    """Three tiny layers (a CPU check of every path, not a figure)."""
    block = [("q", 256, 256), ("up", 256, 512), ("down", 512, 256)]
    shapes = [LinearShape(k, n, (f"tiny:{name}",), (1, 32)) for name, k, n in block]
    return shapes, {"tiny": {"layers": 2, "prefix_tokens": 32, "block": block}}
