"""Decision timelines recorded per episode (cut, cloud compute, bandwidth, precision)."""

from __future__ import annotations

from ecc.runtime.records import ActionSource, EpisodeStart, InferenceTiming, StepEvent
from experiments.timeline import DecisionTimeline

START = EpisodeStart(index=0, suite="object", task="t", init_state=0, seed=0)


def _event(step: int, inference: InferenceTiming | None = None, bits: int | None = None):
    source = ActionSource.FRESH if inference is not None else ActionSource.CACHED
    return StepEvent(step, step * 0.05, source, inference=inference, act_bits=bits)


def test_records_only_inference_steps_with_their_cut_and_bandwidth() -> None:
    tl = DecisionTimeline()
    tl.on_episode_start(START)
    tl.on_step(_event(0, bits=16))  # replayed from the chunk: no inference
    timing = InferenceTiming(
        120.0, cloud_ms=30.0, uplink_mbps=50.0, cut="llm.layer3", bytes_up=4096, round_trips=1
    )
    tl.on_step(_event(1, timing, bits=8))
    tl.on_step(_event(2, bits=8))
    assert tl.as_dict() == {
        "inference_step": [1],
        "inference_ms": [120.0],
        "cloud_ms": [30.0],
        "cut": ["llm.layer3"],
        "uplink_mbps": [50.0],
        "fallback": [False],
        "bytes_up": [4096],  # bytes_down stays out: only zeros
        "round_trips": [1],
        "act_bits": [16, 8, 8],  # one per executed action, from the step events
    }


def test_columns_without_values_are_dropped() -> None:
    tl = DecisionTimeline()
    tl.on_step(_event(0, InferenceTiming(5.0, edge_ms=5.0)))  # measured: no cut, link, controller
    assert tl.as_dict() == {"inference_step": [0], "inference_ms": [5.0], "fallback": [False]}


def test_a_new_episode_starts_an_empty_timeline_and_old_columns_are_kept() -> None:
    tl = DecisionTimeline()
    tl.on_step(_event(0, InferenceTiming(5.0), bits=16))
    first = tl.as_dict()
    tl.on_episode_start(START)
    assert tl.as_dict() == {}
    assert first["inference_step"] == [0]  # not cleared with the timeline
    assert first["act_bits"] == [16]


def test_wandb_offline_run_holds_the_decision_timeline(tmp_path) -> None:
    from ecc.runtime.records import EpisodeSummary
    from experiments.loggers import WandbLogger
    from experiments.results import EpisodeRecord
    from experiments.wandb_offline import find_offline_runs, read_offline_run

    timeline = {"inference_step": [0, 8], "inference_ms": [100.0, 90.0], "cloud_ms": [0.0, 40.0],
                "cut": ["edge_only", "llm.layer3"], "uplink_mbps": [50.0, 5.0],
                "fallback": [False, True], "act_bits": [16, 16, 8]}  # fmt: skip
    timings = [InferenceTiming(100.0, edge_ms=100.0, cloud_ms=0.0),
               InferenceTiming(90.0, edge_ms=50.0, cloud_ms=40.0, fallback=True)]  # fmt: skip
    summary = EpisodeSummary.from_inferences(
        timings, 3, preemptions=0, hold_steps=0, cancelled_requests=0
    )
    extra = {"timeline": timeline, "episode_summary": summary.to_json()}
    record = EpisodeRecord("object", "t", 0, 0, True, 3, 0.15, 1.0, extra=extra)
    logger = WandbLogger(run_dir=tmp_path, run_config={"seed": 0})
    logger.on_episode_start(START)
    logger.on_episode_end(record)  # the subscriber path the main job uses
    logger.finish()
    history = read_offline_run(find_offline_runs(tmp_path)[0]).history
    row = next(h for h in history if "episode/success" in h)
    assert row["episode/cloud_calls"] == 1
    assert row["episode/fallbacks"] == 1
    # tables are stored as files; the history row carries their flattened descriptors
    assert row["timeline/decisions_ep0._type"] == "table-file"
    assert (row["timeline/decisions_ep0.nrows"], row["timeline/decisions_ep0.ncols"]) == (2, 6)
    assert (row["timeline/precision_ep0.nrows"], row["timeline/precision_ep0.ncols"]) == (3, 2)
