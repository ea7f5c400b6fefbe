"""Boundary-state accounting: bytes written per stage and bytes that cross device changes.

Two views:

- ``stage_boundaries``: a *temporal* cut after stage j (everything up to j on one side,
  everything after on the other) sends every tensor that a later stage reads and whose
  latest write happened at or before j (initial inputs count as written before stage
  0). Inside an autoregressive decode this includes the KV caches, because the next
  token re-reads them.
- ``placement_transfers``: a placement (stage -> device) as the runtimes use it; a
  tensor moves when a stage reads it on a device that does not hold its latest
  version (the rule in ``agents.staged``). A layer-wise split of the LLM therefore
  moves one hidden state per decoded token each way and never the caches.

That rule has one owner, ``agents.holders.Holders``; ``ecc.emulated.split_plan`` applies it per segment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from agents.holders import Holders
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


def example_inputs(
    shape, batch: int = 1, device: str | torch.device = "meta"
) -> dict[str, torch.Tensor]:
    """Model inputs of the right shapes; on ``meta`` they let a real-size model run its stages
    (shapes only, no memory), so ``stage_boundaries`` gives real-size cut payloads (bytes, fp32).
    Off ``meta`` they are zeros (noise included)."""
    v = shape.vision[0]
    make = torch.empty if str(device) == "meta" else torch.zeros
    out = {
        "images": make(batch, shape.cameras, v.channels, v.image_size, v.image_size, device=device),
        "tokens": make(batch, shape.prompt_tokens, dtype=torch.long, device=device),
    }
    if shape.proprio_dim:
        out["proprio"] = make(batch, shape.proprio_dim, device=device)
    if shape.noise_input:
        out["noise"] = make(batch, shape.head.chunk, shape.head.action_dim, device=device)
    return out


@dataclass
class Transfer:
    """One tensor movement before stage ``stage`` runs (bytes)."""

    stage: str
    src: str
    dst: str
    key: str
    nbytes: int


def placement_transfers(
    model: StagedModel, inputs: dict[str, Any], place: Any, input_device: str = "edge"
) -> list[Transfer]:
    """Run all stages under ``place(spec) -> device`` and list every tensor that must move.

    Inputs start on ``input_device``; ``outputs`` are not moved (the caller decides).
    """
    state = model.init_state(inputs)
    holders = Holders(state, input_device)
    moves: list[Transfer] = []
    with torch.no_grad():
        for spec in model.stages():
            dev = place(spec)
            for k in spec.reads:
                if not holders.has(k, dev):
                    src = holders.source(k)
                    moves.append(Transfer(spec.name, src, dev, k, state_nbytes(state, [k])))
                    holders.copy(k, dev)
            written = model.run_stage(spec, state)
            state.update(written)
            for k in written:
                holders.write(k, dev)
    return moves
