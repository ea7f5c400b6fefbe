"""Which stages run where, and which tensors cross at each device change.

A placement maps every stage of the unrolled forward to ``edge`` or ``cloud`` by the module whose
weights it uses, so a single cut in module order places prefill and every decode step of a layer on
the same side (KV caches never move). Consecutive stages on one device form a segment. Before a cloud
segment the edge sends the tensors the segment reads whose latest version the cloud lacks; after it
the cloud returns those the next edge segment reads (and, after the last cloud segment, the outputs).
This is the rule of ``agents.staged`` and of ``ecc.cost.plan_transfers``, applied to a real model;
its one owner is ``agents.holders.Holders``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agents.holders import Holders
from agents.staged import StageSpec
from ecc.errors import InvalidValueError, check_choice

DEVICES = ("edge", "cloud")
DIRECTIONS = ("edge_prefix", "cloud_prefix")


@dataclass(frozen=True)
class Segment:
    """A maximal run of consecutive stages [start, end) on one device."""

    device: str
    start: int
    end: int
    send_keys: tuple[str, ...] = ()  # edge -> cloud before a cloud segment
    return_keys: tuple[str, ...] = ()  # cloud -> edge after a cloud segment


def module_order(specs: Sequence[StageSpec]) -> list[str]:
    """Modules in order of first use: the axis a single cut splits."""
    seen: dict[str, None] = {}
    for s in specs:
        seen.setdefault(s.module, None)
    return list(seen)


def placement_for_cut(
    specs: Sequence[StageSpec], cut: int, direction: str = "edge_prefix"
) -> list[str]:
    """Per-stage device for a single cut after the first ``cut`` modules (0: all on the far side).

    ``edge_prefix``: modules before the cut on the edge, the rest in the cloud (Neurosurgeon);
    ``cloud_prefix``: the reverse (RoboECC's published planner code).
    """
    check_choice("partition.direction", direction, DIRECTIONS)
    modules = module_order(specs)
    if not 0 <= cut <= len(modules):
        raise InvalidValueError("partition.cut", cut, f"an integer in [0, {len(modules)}]")
    first, second = ("edge", "cloud") if direction == "edge_prefix" else ("cloud", "edge")
    side = {m: (first if i < cut else second) for i, m in enumerate(modules)}
    return [side[s.module] for s in specs]


def _reads_before_write(specs: Sequence[StageSpec], start: int, end: int) -> list[str]:
    """Keys a run of stages reads before it writes them itself (its external inputs), in order."""
    written: set[str] = set()
    needed: dict[str, None] = {}
    for s in specs[start:end]:
        for k in s.reads:
            if k not in written:
                needed.setdefault(k, None)
        written.update(s.writes)
    return list(needed)


def plan_segments(
    specs: Sequence[StageSpec],
    placement: Sequence[str],
    input_keys: Iterable[str],
    output_keys: Iterable[str],
) -> list[Segment]:
    """Segments with the keys each cloud segment needs sent and must return.

    Inputs start on the edge; outputs are read on the edge after the last stage.
    """
    if len(placement) != len(specs):
        raise ValueError(f"placement has {len(placement)} entries for {len(specs)} stages")
    for d in set(placement):
        check_choice("placement device", d, DEVICES)
    bounds: list[tuple[str, int, int]] = []
    for i, d in enumerate(placement):
        if bounds and bounds[-1][0] == d:
            bounds[-1] = (d, bounds[-1][1], i + 1)
        else:
            bounds.append((d, i, i + 1))
    holders = Holders(input_keys, "edge")
    outputs = list(output_keys)
    last_cloud = max((j for j, b in enumerate(bounds) if b[0] == "cloud"), default=-1)
    segments: list[Segment] = []
    for j, (device, start, end) in enumerate(bounds):
        send: tuple[str, ...] = ()
        if device == "cloud":
            send = tuple(
                k for k in _reads_before_write(specs, start, end) if not holders.has(k, "cloud")
            )
            for k in send:
                holders.copy(k, "cloud")
        for s in specs[start:end]:
            for k in s.writes:
                holders.write(k, device)
        ret: tuple[str, ...] = ()
        if device == "cloud":
            wanted: list[str] = []
            if j + 1 < len(bounds):
                _, nstart, nend = bounds[j + 1]
                wanted += _reads_before_write(specs, nstart, nend)
            if j == last_cloud:
                wanted += outputs
            ret = tuple(dict.fromkeys(k for k in wanted if holders.only(k, "cloud")))
            for k in ret:
                holders.copy(k, "edge")
        segments.append(Segment(device, start, end, send, ret))
    return segments
