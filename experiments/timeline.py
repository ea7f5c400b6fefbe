"""Decision timelines of one episode: when the actor inferred, at which cut, precision and bandwidth.

A subscriber (``ecc.runtime.subscribers``): it reads each ``StepEvent`` the rollout publishes.
Stored in ``episodes.jsonl`` under ``extra["timeline"]`` (columnar, short keys) so the aggregation
command can draw precision timelines and the cut against the bandwidth trace from the run dir alone:

    inference_step  control step of every inference request (0-based)
    inference_ms    its charged latency (ms)
    cloud_ms        its cloud compute (ms); > 0 marks a cloud call
    cut             partition label it ran under (``edge_only``, ``cloud_only``, a stage name)
    uplink_mbps     uplink bandwidth of the link at that world time (Mbit/s; modeled deployments)
    fallback        whether its remote part was abandoned and it finished on the edge (bool)
    bytes_up        bytes it sent edge -> cloud; bytes_down: cloud -> edge
    round_trips     wire round trips it made (emulated runtime only)
    act_bits        activation bits the precision controller chose after every executed action
                    (16 = BF16, 32 = fp32); one entry per executed action, so steps spent holding
                    (realtime mode, chunk exhausted) add none

A column is absent when the actor does not produce it (the scripted expert has none at all).
"""

from __future__ import annotations

from typing import Any

from ecc.runtime.records import EpisodeStart, StepEvent
from ecc.runtime.subscribers import SubscriberBase

COLUMNS = ("inference_step", "inference_ms", "cloud_ms", "cut", "uplink_mbps", "fallback",
           "bytes_up", "bytes_down", "round_trips")  # fmt: skip
_BYTE_COLUMNS = ("bytes_up", "bytes_down")


class DecisionTimeline(SubscriberBase):
    """Collects one episode's per-inference decisions and per-action precision from step events."""

    def __init__(self) -> None:
        self._columns: dict[str, list[Any]] = {c: [] for c in COLUMNS}
        self._act_bits: list[int] = []

    def on_episode_start(self, start: EpisodeStart) -> None:
        for column in self._columns.values():
            column.clear()
        self._act_bits.clear()

    def on_step(self, event: StepEvent) -> None:
        if event.act_bits is not None:
            self._act_bits.append(int(event.act_bits))
        t = event.inference
        if t is None:
            return
        row = (event.step, float(t.total_ms), t.cloud_ms, t.cut, t.uplink_mbps, bool(t.fallback),
               int(t.bytes_up), int(t.bytes_down), t.round_trips)  # fmt: skip
        for name, value in zip(COLUMNS, row, strict=True):
            self._columns[name].append(value)

    def as_dict(self) -> dict[str, list[Any]]:
        """Columns with at least one value (``act_bits`` where a precision controller chose)."""
        # A byte column of zeros says only that nothing crossed (no link, or edge-only): dropped.
        out = {k: list(v) for k, v in self._columns.items()
               if any(x is not None and (x != 0 or k not in _BYTE_COLUMNS) for x in v)}  # fmt: skip
        if self._act_bits:
            out["act_bits"] = list(self._act_bits)
        return out
