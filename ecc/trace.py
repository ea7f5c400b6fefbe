"""Analytic execution trace of one action generation, built from a :class:`VLAShape`.

The trace lists every stage invocation in execution order (vision towers, projector, LLM
prefill, the autoregressive decode loop per token with its KV length, flow / diffusion
steps), each with FLOPs, weights read, activation traffic and the named tensors it reads
and writes. Stage names follow ``agents/staged.py``; at ``granularity="sublayer"`` every
transformer block is split at the boundaries RoboECC cuts at (after norm, attention, MLP
up, MLP down), e.g. ``llm.decode.t3.layer5.mlp_up``.

The data types (``Unit``, ``TraceStage``, ``ExecutionTrace``) live in ``ecc.trace_types``.
Builders are registered by name in ``TRACE_BUILDERS``; a family's entry in ``agents.families``
names its builder (``analytic``, in ``ecc.trace_analytic``, covers the four head kinds; a plug-in
family may name a ``"module:function"`` of its own), and the family facts come from that entry
via the shape.
"""

from __future__ import annotations

from collections.abc import Callable

from agents.shapes import VLAShape
from core.registry import Registry, resolve
from ecc.catalog import get_shape
from ecc.errors import InvalidValueError, check_choice, check_positive
from ecc.trace_analytic import analytic_trace
from ecc.trace_types import ExecutionTrace, TraceStage, Unit

__all__ = [
    "GRANULARITIES",
    "TRACE_BUILDERS",
    "ExecutionTrace",
    "TraceBuilder",
    "TraceStage",
    "Unit",
    "analytic_trace",
    "build_trace",
    "trace_builder",
]

GRANULARITIES = ("block", "sublayer")
# (shape, granularity, act_bytes, prompt_tokens, image_bytes_per_value) -> trace
TraceBuilder = Callable[[VLAShape, str, float, int, float], "ExecutionTrace"]
# Trace builders by name (``agents.families.FamilySpec.trace``): ecc registers, agents names.
TRACE_BUILDERS: Registry[TraceBuilder] = Registry("trace builder", "family.trace")
TRACE_BUILDERS.add("analytic", analytic_trace)


def build_trace(
    shape: VLAShape | str,
    *,
    granularity: str = "sublayer",
    act_bytes: float = 2.0,
    prompt_tokens: int | None = None,
    image_bytes_per_value: float = 1.0,
) -> ExecutionTrace:
    """Trace of one action generation of ``shape`` (a :class:`VLAShape` or a zoo name).

    Args:
        granularity: ``"block"`` (the zoo's stages, one per transformer block) or
            ``"sublayer"`` (RoboECC's in-block boundaries as extra cut points).
        act_bytes: bytes per activation value in memory and on the wire (2 for bf16).
        prompt_tokens: overrides ``shape.prompt_tokens``.
        image_bytes_per_value: bytes per image value sent (1: uint8 on the wire).
    """
    if isinstance(shape, str):
        shape = get_shape(shape)
    check_choice("granularity", granularity, GRANULARITIES)
    check_positive("act_bytes", act_bytes)
    P = shape.prompt_tokens if prompt_tokens is None else int(prompt_tokens)
    if P < 0:
        raise InvalidValueError("prompt_tokens", P, ">= 0")
    builder = trace_builder(shape.family_spec.trace)
    return builder(shape, granularity, act_bytes, P, image_bytes_per_value)


def trace_builder(name: str) -> TraceBuilder:
    """A registered trace builder, or one named by a ``"module:function"`` path (a plug-in
    family's own builder; see docs/extending.md)."""
    if ":" in name and name not in TRACE_BUILDERS:
        return resolve(name)
    return TRACE_BUILDERS.get(name)
