"""Boundary-state accounting: what would cross a cut placed after each stage.

A cut after stage j sends every tensor that a later stage reads and whose latest
write happened at or before stage j (initial inputs count as written before stage 0).
This is the same rule ``agents.staged`` documents for runtimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from agents.staged import StagedModel, state_nbytes


@dataclass
class StageBoundary:
    """Sizes at one stage: bytes it writes and bytes crossing a cut right after it (bytes)."""

    name: str
    kind: str
    write_bytes: int
    cut_bytes: int
    cut_keys: tuple[str, ...]
    seconds: float = 0.0


def stage_boundaries(
    model: StagedModel, inputs: dict[str, Any], timed: bool = False
) -> list[StageBoundary]:
    """Run all stages once and report write sizes and cut payloads per stage (bytes).

    With ``timed`` each stage's wall time (s) is measured too (``time.perf_counter``).
    """
    import time

    specs = model.stages()
    state = model.init_state(inputs)
    # A key may be rewritten (KV caches, hidden state): sizes are taken at the
    # version that is live at the cut, so record per-stage snapshots of sizes.
    sizes: dict[str, int] = {k: state_nbytes(state, [k]) for k in state}
    last_write: dict[str, int] = dict.fromkeys(state, -1)
    out: list[StageBoundary] = []
    history: list[tuple[dict[str, int], dict[str, int]]] = []
    with torch.no_grad():
        for j, spec in enumerate(specs):
            t0 = time.perf_counter()
            written = model.run_stage(spec, state)
            dt = time.perf_counter() - t0 if timed else 0.0
            state.update(written)
            for k in written:
                sizes[k] = state_nbytes(state, [k])
                last_write[k] = j
            history.append((dict(sizes), dict(last_write)))
            out.append(StageBoundary(spec.name, spec.kind, state_nbytes(written), 0, (), dt))
    for j, (sz, lw) in enumerate(history):
        needed: set[str] = set()
        for later in specs[j + 1 :]:
            needed.update(k for k in later.reads if k in lw and lw[k] <= j)
        # Drop keys that a later stage rewrites before anyone reads them again is not
        # needed: reads are checked in order, so a key read after a rewrite still
        # counts only if some later read precedes that rewrite.
        needed = {k for k in needed if _read_before_rewrite(specs, j, k)}
        out[j].cut_keys = tuple(sorted(needed))
        out[j].cut_bytes = sum(sz[k] for k in needed)
    return out


def _read_before_rewrite(specs: list, j: int, key: str) -> bool:
    for later in specs[j + 1 :]:
        if key in later.reads:
            return True
        if key in later.writes:
            return False
    return False
