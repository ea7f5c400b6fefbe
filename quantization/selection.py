"""Which module group (vision, projector, llm, action_expert, action_head, other) a layer belongs to,
and whether a method quantizes it."""

from __future__ import annotations

import re
from functools import lru_cache

from torch import nn

from quantization.config import QuantMethodConfig


@lru_cache(maxsize=4096)
def _match(pattern: str, name: str) -> bool:
    return re.search(pattern, name) is not None


def module_group(name: str, cfg: QuantMethodConfig) -> str:
    """Group of the module at dotted path ``name`` (``other`` when no pattern matches)."""
    for group, patterns in cfg.group_patterns.items():
        if any(_match(p, name) for p in patterns):
            return group
    return "other"


def is_skipped(name: str, cfg: QuantMethodConfig) -> bool:
    """Whether ``name`` is kept in high precision by ``skip_patterns`` (norms, embeddings...)."""
    return any(_match(p, name) for p in cfg.skip_patterns)


def selected_linears(model: nn.Module, cfg: QuantMethodConfig) -> dict[str, nn.Linear]:
    """``nn.Linear`` modules (by dotted name) the method quantizes, in model order."""
    if not cfg.quantizes_weights:
        return {}
    return {
        name: mod
        for name, mod in model.named_modules()
        if type(mod) is nn.Linear
        and module_group(name, cfg) in cfg.groups
        and not is_skipped(name, cfg)
    }


def selected_weight_only(
    model: nn.Module, cfg: QuantMethodConfig
) -> dict[str, tuple[nn.Module, int]]:
    """``nn.Embedding`` / ``nn.Conv2d`` modules stored weight-only, with their bits.

    Selected by ``cfg.embedding_bits`` / ``cfg.conv_bits`` and ``cfg.groups``; skip patterns
    (written for Linear layers: "embed" would match every table) do not apply.
    """
    bits_for = {nn.Embedding: cfg.embedding_bits, nn.Conv2d: cfg.conv_bits}
    out: dict[str, tuple[nn.Module, int]] = {}
    for name, mod in model.named_modules():
        bits = bits_for.get(type(mod))
        if bits is not None and module_group(name, cfg) in cfg.groups:
            out[name] = (mod, bits)
    return out


def set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    """Replace the submodule at dotted path ``name``."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
