"""The typed step record: units of its fields, subscriber order, the chunk-merge registry."""

from __future__ import annotations

import math
import typing
from dataclasses import fields

import numpy as np
import pytest

from ecc.errors import EccError
from ecc.runtime import (
    CHUNK_MERGES,
    ActionSource,
    ConstantLatency,
    EpisodeRecord,
    EpisodeStart,
    EpisodeSummary,
    InferenceTiming,
    Publisher,
    SimulatedRuntime,
    StepEvent,
    SubscriberBase,
    chunk_merge,
)
from ecc.schedulers import QueueThreshold


def test_every_ms_field_is_a_duration_and_every_fact_has_its_own_name() -> None:
    hints = typing.get_type_hints(InferenceTiming)
    ms = [f.name for f in fields(InferenceTiming) if f.name.endswith("_ms")]
    assert ms == ["total_ms", "edge_ms", "uplink_ms", "cloud_ms", "downlink_ms", "network_ms",
                  "planner_ms", "policy_compute_ms"]  # fmt: skip
    for name in ms:
        assert hints[name] in (float, float | None), name
    assert hints["uplink_mbps"] == float | None  # Mbit/s, not ms
    assert hints["fallback"] is bool
    assert hints["round_trips"] == int | None
    assert hints["bytes_up"] is int


def test_breakdown_holds_only_the_produced_ms_parts() -> None:
    t = InferenceTiming(
        60.0, edge_ms=5.0, uplink_ms=20.0, cloud_ms=30.0, downlink_ms=5.0, planner_ms=0.1,
        uplink_mbps=42.0, fallback=True, round_trips=3, bytes_up=1000, policy_compute_ms=2.0,
    )  # fmt: skip
    assert t.breakdown_ms == {
        "edge_ms": 5.0, "uplink_ms": 20.0, "cloud_ms": 30.0, "downlink_ms": 5.0, "planner_ms": 0.1,
    }  # fmt: skip
    assert t.remote_ms == 55.0
    assert t.is_cloud_call
    step = t.step_latency_ms()
    assert step["inference_ms"] == 60.0
    assert step["policy_compute_ms"] == 2.0
    assert all(k.endswith("_ms") for k in step)
    assert all(type(v) is float for v in step.values())  # no flag smuggled in as 0.0 / 1.0
    assert InferenceTiming(7.0, edge_ms=7.0).breakdown_ms == {"edge_ms": 7.0}


def test_step_event_lists_every_duration_of_the_step_in_ms() -> None:
    inf = InferenceTiming(100.0, edge_ms=100.0, uplink_mbps=5.0, fallback=True)
    ev = StepEvent(3, 0.15, ActionSource.FRESH, inference=inf, policy_ms=1.5, env_ms=2.5)
    assert ev.inference_started
    assert ev.latency_ms() == {"policy_ms": 1.5, "env_ms": 2.5, "inference_ms": 100.0,
                               "edge_ms": 100.0}  # fmt: skip
    plain = StepEvent(4, 0.2, ActionSource.DIRECT, policy_ms=1.0, other_ms={"infer_ms": 9.0})
    assert plain.latency_ms() == {"policy_ms": 1.0, "infer_ms": 9.0}
    assert not plain.inference_started


def test_episode_summary_per_step_and_per_inference_figures() -> None:
    infs = [
        InferenceTiming(100.0, edge_ms=100.0),
        InferenceTiming(50.0, uplink_ms=10.0, cloud_ms=35.0, downlink_ms=5.0, fallback=True),
    ]
    s = EpisodeSummary.from_inferences(
        infs, 10, preemptions=1, hold_steps=3, cancelled_requests=0, edge_memory_bytes=2.0
    )
    assert s.per_step_ms == pytest.approx(15.0)
    assert s.edge_per_step_ms == pytest.approx(10.0)
    assert s.cloud_per_step_ms == pytest.approx(5.0)
    assert s.per_inference_ms == pytest.approx(75.0)
    assert (s.inferences, s.cloud_calls, s.fallbacks) == (2, 1, 1)
    assert EpisodeSummary.from_json({**s.to_json(), "later_field": 1}) == s
    empty = EpisodeSummary.from_inferences([], 0, preemptions=0, hold_steps=0, cancelled_requests=0)
    assert math.isnan(empty.per_inference_ms)
    assert empty.per_step_ms == 0.0


def test_episode_record_row_summarises_latencies_and_leaves_inferences_out() -> None:
    rec = EpisodeRecord("object", "t", 0, 0, True, 2, 0.1, 1.0, step_latency_ms={"env_ms": [1.0, 3.0]},
                        inferences=[InferenceTiming(5.0)])  # fmt: skip
    row = rec.to_json()
    assert "inferences" not in row
    assert row["step_latency_ms"]["env_ms"]["mean"] == 2.0


class _Log(SubscriberBase):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def on_episode_start(self, start: EpisodeStart) -> None:
        self.log.append(f"{self.name}:start{start.index}")

    def on_step(self, event: StepEvent) -> None:
        self.log.append(f"{self.name}:step{event.step}")

    def on_episode_end(self, record: EpisodeRecord) -> None:
        self.log.append(f"{self.name}:end")


def test_publisher_calls_subscribers_in_list_order_for_each_event() -> None:
    log: list[str] = []
    pub = Publisher([_Log("a", log), _Log("b", log)])
    pub.episode_start(EpisodeStart(7, "object", "t", 0, 0))
    pub.step(StepEvent(0, 0.0, ActionSource.HOLD))
    pub.episode_end(EpisodeRecord("object", "t", 0, 0, False, 1, 0.05, 0.1))
    assert log == ["a:start7", "b:start7", "a:step0", "b:step0", "a:end", "b:end"]
    with pytest.raises(TypeError, match="on_step"):
        Publisher([object()])


def test_chunk_merges_are_named_functions_and_leave_their_inputs_alone() -> None:
    assert sorted(CHUNK_MERGES) == ["latest", "weighted_average"]
    queued = np.ones((2, 3), dtype=np.float32)
    fresh = np.full((3, 3), 3.0, dtype=np.float32)
    assert np.array_equal(chunk_merge("latest")(queued, fresh, 0.25), fresh)
    merged = chunk_merge("weighted_average")(queued, fresh, 0.25)
    np.testing.assert_allclose(merged[:2, :-1], 0.25 * 3 + 0.75 * 1)  # overlap: averaged pose
    np.testing.assert_allclose(merged[:, -1], 3.0)  # gripper: the new chunk's
    np.testing.assert_allclose(merged[2], 3.0)  # past the overlap: the new chunk
    assert fresh[0, 0] == 3.0  # inputs untouched


def test_unknown_chunk_merge_names_the_field_and_the_allowed_names() -> None:
    with pytest.raises(EccError) as err:
        chunk_merge("median")
    msg = str(err.value)
    assert "scheduler.aggregate" in msg
    assert "median" in msg
    assert "latest" in msg
    assert "weighted_average" in msg


def test_runtime_rejects_a_scheduler_with_an_unknown_merge_at_construction() -> None:
    sched = QueueThreshold(fraction=0.5)
    sched.aggregate = "median"
    with pytest.raises(EccError, match=r"scheduler\.aggregate"):
        SimulatedRuntime(_Policy(), ConstantLatency(0.0), scheduler=sched)


class _Policy:
    def reset(self) -> None:
        pass

    def predict_action_chunk(self, obs):
        return np.ones((4, 7), dtype=np.float32), {"act_bits": 8}

    def observe_executed(self, action) -> int:
        return 16


def test_runtime_describes_every_step_fresh_cached_hold() -> None:
    rt = SimulatedRuntime(_Policy(), ConstantLatency(120.0), mode="realtime", control_hz=20)
    rt.reset(object())
    events = []
    for _ in range(8):
        rt.act({})
        events.append(rt.last_step)
    # 120 ms = 3 steps of 50 ms: hold until the chunk arrives at step 3, then 4 actions
    sources = [e.action_source.value for e in events]
    assert sources == ["hold", "hold", "hold", "fresh", "cached", "cached", "cached", "hold"]
    assert [e.step for e in events] == list(range(8))
    assert events[0].inference is not None
    assert events[0].inference.request_step == 0
    assert events[0].inference.act_bits == 8  # from the policy's info
    assert events[3].arrived
    assert not events[4].arrived
    assert [e.act_bits for e in events] == [None, None, None, 16, 16, 16, 16, None]
    assert events[1].world_time_s == pytest.approx(0.05)
    assert rt.last_latency_ms["inference_ms"] == 120.0  # step 7 requested again
    assert set(rt.last_latency_ms) == {"inference_ms", "edge_ms", "policy_compute_ms"}
    infer_steps = [e.step for e in events if e.inference is not None]
    assert infer_steps == [0, 7]  # the default scheduler asks again once the chunk is spent
