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


def test_wandb_offline_run_holds_the_decision_timeline(tmp_path) -> None:
    from experiments.loggers import WandbLogger
    from experiments.results import EpisodeRecord
    from experiments.wandb_offline import find_offline_runs, read_offline_run

    timeline = {"inference_step": [0, 8], "inference_ms": [100.0, 90.0], "cloud_ms": [0.0, 40.0],
                "cut": ["edge_only", "llm.layer3"], "uplink_mbps": [50.0, 5.0],
                "act_bits": [16, 16, 8]}  # fmt: skip
    record = EpisodeRecord("object", "t", 0, 0, True, 3, 0.15, 1.0, extra={"timeline": timeline})
    logger = WandbLogger(run_dir=tmp_path, run_config={"seed": 0})
    logger.log_episode(record, 0)
    logger.finish()
    history = read_offline_run(find_offline_runs(tmp_path)[0]).history
    row = next(h for h in history if "episode/success" in h)
    assert row["episode/cloud_calls"] == 1
    # tables are stored as files; the history row carries their flattened descriptors
    assert row["timeline/decisions_ep0._type"] == "table-file"
    assert (row["timeline/decisions_ep0.nrows"], row["timeline/decisions_ep0.ncols"]) == (2, 5)
    assert (row["timeline/precision_ep0.nrows"], row["timeline/precision_ep0.ncols"]) == (3, 2)
