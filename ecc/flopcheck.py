"""Analytic trace vs ``torch.utils.flop_counter`` on the zoo's models, stage by stage.

``FlopCounterMode`` counts matmul-class ops (mm, addmm, bmm, convolution, SDPA), so the
comparison is against each stage's ``matmul_flops``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from agents import zoo
from ecc.trace import build_trace


@dataclass
class FlopComparison:
    """Per-stage analytic vs counted FLOPs of one model."""

    shape: str
    stages: list[tuple[str, float, float]]  # (name, analytic, counted)

    @property
    def total_analytic(self) -> float:
        return sum(a for _, a, _ in self.stages)

    @property
    def total_counted(self) -> float:
        return sum(c for _, _, c in self.stages)

    @property
    def total_rel_error(self) -> float:
        return self.total_analytic / self.total_counted - 1

    def worst_stage(self) -> tuple[str, float]:
        """(stage, relative error) of the stage with the largest error among counted stages."""
        errs = [(n, a / c - 1) for n, a, c in self.stages if c > 0]
        return max(errs, key=lambda x: abs(x[1])) if errs else ("", 0.0)


def example_inputs(shape: Any, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the right shapes for a zoo model (batch 1)."""
    g = torch.Generator().manual_seed(seed)
    v = shape.vision[0]
    inputs = {
        "images": torch.randn(1, shape.cameras, v.channels, v.image_size, v.image_size, generator=g),
        "tokens": torch.randint(0, max(shape.llm.vocab_size - shape.head.bins, 1), (1, shape.prompt_tokens),
                                generator=g),
    }  # fmt: skip
    if getattr(shape, "proprio_dim", 0):
        inputs["proprio"] = torch.randn(1, shape.proprio_dim, generator=g)
    if shape.head.kind in ("flow_expert", "dit"):
        inputs["noise"] = torch.randn(1, shape.head.chunk, shape.head.action_dim, generator=g)
    return inputs


@torch.no_grad()
def compare_flops(shape_name: Any) -> FlopComparison:
    """Run the zoo model ``shape_name`` (a name or a VLAShape) stage by stage under the FLOP counter."""
    shape = zoo.get_shape(shape_name) if isinstance(shape_name, str) else shape_name
    model = zoo.build_model(shape).eval()
    trace = build_trace(shape, granularity="block")
    analytic = {s.name: s.matmul_flops for s in trace.stages}
    state = model.init_state(example_inputs(shape))
    rows = []
    for spec in model.stages():
        # The CPU flash SDPA kernel is invisible to the counter; the math backend is not.
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
            state.update(model.run_stage(spec, state))
        rows.append((spec.name, analytic[spec.name], float(fc.get_total_flops())))
    return FlopComparison(shape_name, rows)
