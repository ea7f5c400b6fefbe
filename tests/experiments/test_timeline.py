"""Decision timelines recorded per episode (cut, cloud compute, bandwidth, precision)."""

from __future__ import annotations

from types import SimpleNamespace

from experiments.timeline import DecisionTimeline


def _actor(bits_timeline: list[int] | None) -> SimpleNamespace:
    controller = SimpleNamespace(timeline=bits_timeline) if bits_timeline is not None else None
    inner = SimpleNamespace(controller=controller) if controller else SimpleNamespace()
    return SimpleNamespace(policy=SimpleNamespace(policy=inner), inferences=[])


def test_records_only_inference_steps_with_their_cut_and_bandwidth() -> None:
    actor = _actor([16, 8, 8])
    tl = DecisionTimeline(actor)
    tl.after_step(0, {"policy_ms": 1.0})  # replayed from the chunk: no inference
    actor.inferences.append(SimpleNamespace(cut="llm.layer3"))
    tl.after_step(1, {"inference_ms": 120.0, "cloud_ms": 30.0, "uplink_mbps": 50.0})
    assert tl.as_dict() == {
        "inference_step": [1],
        "inference_ms": [120.0],
        "cloud_ms": [30.0],
        "cut": ["llm.layer3"],
        "uplink_mbps": [50.0],
        "act_bits": [16, 8, 8],  # found through two wrapper levels
    }


def test_columns_without_values_are_dropped() -> None:
    actor = _actor(None)
    tl = DecisionTimeline(actor)
    tl.after_step(0, {"inference_ms": 5.0})  # measured latency: no cut, link or controller
    assert tl.as_dict() == {"inference_step": [0], "inference_ms": [5.0]}
