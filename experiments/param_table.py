"""Print parameter counts of the zoo's real-size shapes against their published totals.

    vecc-study study=param_table                     # real-size shapes
    vecc-study study=param_table all=true            # tiny shapes too
    vecc-study study=param_table stages=openvla-7b   # per-stage boundary bytes (fp32)

Models are built on the meta device, so nothing is allocated.
"""

from __future__ import annotations

from typing import Any

import torch

from agents.boundary import example_inputs, stage_boundaries
from agents.zoo import REAL_SHAPES, TINY_SHAPES, build_model, count_params, get_shape
from experiments.apps import as_args


def component_counts(model: torch.nn.Module) -> dict[str, int]:
    """Unique parameters per top-level child module (tied weights counted where first seen)."""
    seen: set[int] = set()
    out: dict[str, int] = {}
    for name, child in model.named_children():
        n = 0
        for p in child.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        out[name] = n
    return out


def print_stage_bytes(name: str, max_rows: int) -> None:
    """Per stage: bytes written and bytes crossing a temporal cut after it (meta device, fp32)."""
    model = build_model(name, "meta")
    rows = stage_boundaries(model, example_inputs(model.shape))
    print(f"{name}: {len(rows)} stages, batch 1, fp32 bytes (halve for bf16)")
    print(f"{'#':>4s} {'stage':32s} {'kind':13s} {'writes':>14s} {'cut after':>14s}")
    for i, r in enumerate(rows[:max_rows]):
        print(f"{i:>4d} {r.name:32s} {r.kind:13s} {r.write_bytes:>14,d} {r.cut_bytes:>14,d}")
    if len(rows) > max_rows:
        print(f"... {len(rows) - max_rows} more (use max_rows=N)")


def run(cfg: Any) -> None:
    """The study app's entry (conf/study/param_table.yaml): print the table."""
    args = as_args(cfg)
    if args.stages:
        print_stage_bytes(args.stages, args.max_rows)
        return
    names = list(REAL_SHAPES) + (list(TINY_SHAPES) if args.all else [])
    header = f"{'shape':16s} {'family':7s} {'vision':>13s} {'proj':>11s} {'embed':>13s} {'llm':>14s} {'head':>12s} {'total':>15s} {'published':>15s} {'diff':>8s}"
    print(header)
    print("-" * len(header))
    for name in names:
        shape = get_shape(name)
        model = build_model(shape, "meta")
        comp = component_counts(model)
        total = count_params(model)
        head = sum(v for k, v in comp.items() if k not in ("towers", "projector", "embed", "llm"))
        pub = shape.published_params
        diff = f"{100 * (total / pub - 1):+.2f}%" if pub else "-"
        print(
            f"{name:16s} {shape.family:7s} {comp['towers']:>13,d} {comp['projector']:>11,d} "
            f"{comp['embed']:>13,d} {comp['llm']:>14,d} {head:>12,d} {total:>15,d} "
            f"{(pub or 0):>15,d} {diff:>8s}"
        )
    print()
    for name in names:
        shape = get_shape(name)
        if shape.published_source:
            print(f"{name}: {shape.published_source}")


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("study", "param_table")
