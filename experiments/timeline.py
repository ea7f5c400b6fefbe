"""Decision timelines of one episode: when the actor inferred, at which cut, precision and bandwidth.

Stored in ``episodes.jsonl`` under ``extra["timeline"]`` (columnar, short keys) so the aggregation
command can draw precision timelines and the cut against the bandwidth trace from the run dir alone:

    inference_step  control step of every inference request (0-based)
    inference_ms    its charged latency (ms)
    cloud_ms        its cloud compute (ms); > 0 marks a cloud call
    cut             partition label it ran under (``edge_only``, ``cloud_only``, a stage name)
    uplink_mbps     uplink bandwidth of the link at that world time (Mbit/s; modeled deployments)
    act_bits        activation bits the precision controller chose after every executed action
                    (16 = BF16, 32 = fp32); one entry per executed action, so steps spent holding
                    (realtime mode, chunk exhausted) add none

A column is absent when the actor does not produce it (the scripted expert has none at all).
"""

from __future__ import annotations

from typing import Any


def _controller(actor: Any) -> Any | None:
    """The precision controller inside an actor's wrapper chain (``.policy`` links), if any."""
    node = getattr(actor, "policy", None)
    for _ in range(8):  # wrappers are a few deep; a bound keeps a cyclic chain from hanging
        if node is None:
            return None
        if hasattr(node, "controller") and hasattr(node.controller, "timeline"):
            return node.controller
        node = getattr(node, "policy", None)
    return None


class DecisionTimeline:
    """Collects one episode's per-inference decisions from an actor after each ``act`` call."""

    def __init__(self, actor: Any) -> None:
        self._actor = actor
        self._columns: dict[str, list[Any]] = {
            "inference_step": [],
            "inference_ms": [],
            "cloud_ms": [],
            "cut": [],
            "uplink_mbps": [],
        }

    def after_step(self, step: int, latency_ms: dict[str, float]) -> None:
        """Record step ``step`` if the actor requested an inference in it (``inference_ms`` set)."""
        if "inference_ms" not in latency_ms:
            return
        inferences = getattr(self._actor, "inferences", None)
        timing = inferences[-1] if inferences else None
        self._columns["inference_step"].append(step)
        self._columns["inference_ms"].append(float(latency_ms["inference_ms"]))
        self._columns["cloud_ms"].append(latency_ms.get("cloud_ms"))
        self._columns["cut"].append(getattr(timing, "cut", None))
        self._columns["uplink_mbps"].append(latency_ms.get("uplink_mbps"))

    def as_dict(self) -> dict[str, list[Any]]:
        """Columns with at least one value; ``act_bits`` from the precision controller if present."""
        out = {k: v for k, v in self._columns.items() if any(x is not None for x in v)}
        controller = _controller(self._actor)
        if controller is not None and controller.timeline:
            out["act_bits"] = [int(b) for b in controller.timeline]
        return out
