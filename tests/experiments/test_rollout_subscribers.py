"""run_episode publishes typed events to its subscribers in order; the writer is one of them."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from ecc.runtime import ConstantLatency, EpisodeRecord, EpisodeStart, SimulatedRuntime, StepEvent
from experiments.results import RunWriter
from experiments.rollout import run_episode


class _Env:
    """Succeeds at step ``succeed_at``; the world time advances 50 ms a step."""

    action_space = SimpleNamespace(shape=(7,))
    language = "pick up the cube"

    def __init__(self, succeed_at: int = 5) -> None:
        self.succeed_at = succeed_at

    def reset(self, seed=None, options=None):
        self.t = 0
        return {}, {"sim_time": 0.0}

    def step(self, action):
        self.t += 1
        done = self.t >= self.succeed_at
        info = {"sim_time": 0.05 * self.t, "is_success": done, "language": self.language}
        return {}, 0.0, done, False, info


class _Policy:
    def reset(self) -> None:
        pass

    def predict_action_chunk(self, obs):
        return np.zeros((2, 7), dtype=np.float32), {}


class _Spy:
    def __init__(self, log: list[tuple[str, object]]) -> None:
        self.log = log

    def on_episode_start(self, start: EpisodeStart) -> None:
        self.log.append(("start", start.index))

    def on_step(self, event: StepEvent) -> None:
        self.log.append(("step", event.step))

    def on_episode_end(self, record: EpisodeRecord) -> None:
        # the rollout's own collectors ran first: the record is complete here
        self.log.append(("end", sorted(record.extra["timeline"])))


def test_events_arrive_in_order_and_the_record_is_complete_at_episode_end(tmp_path) -> None:
    log: list[tuple[str, object]] = []
    writer = RunWriter(tmp_path, config={}, provenance={})
    rt = SimulatedRuntime(_Policy(), ConstantLatency(10.0), mode="blocking")
    record = run_episode(
        _Env(succeed_at=5), rt, suite="object", task="t", init_state=0, seed=0,
        subscribers=[_Spy(log), writer], index=4,
    )  # fmt: skip
    assert log[0] == ("start", 4)
    assert log[1:6] == [("step", k) for k in range(5)]
    assert log[6] == ("end", ["fallback", "inference_ms", "inference_step"])
    assert record.success
    assert record.steps == 5
    assert record.step_latency_ms["inference_ms"] == [10.0, 10.0, 10.0]  # steps 0, 2, 4
    assert [t.request_step for t in record.inferences] == [0, 2, 4]
    rows = [json.loads(x) for x in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert len(rows) == 1  # written by the writer's on_episode_end
    assert rows[0]["extra"]["episode_summary"]["per_step_ms"] == 6.0  # 3 x 10 ms / 5 steps


def test_an_actor_without_a_runtime_still_reports_its_ms_values() -> None:
    class _Plain:
        def reset(self, env) -> None:
            self.last_latency_ms: dict[str, float] = {}

        def act(self, obs, info):
            self.last_latency_ms = {"infer_ms": 3.0}
            return np.zeros(7, dtype=np.float32)

    events: list[StepEvent] = []
    spy = _Spy([])
    spy.on_step = events.append  # type: ignore[method-assign]
    spy.on_episode_end = lambda record: None  # type: ignore[method-assign]
    record = run_episode(_Env(3), _Plain(), suite="object", task="t", init_state=0, seed=0,
                         subscribers=[spy])  # fmt: skip
    assert record.step_latency_ms["infer_ms"] == [3.0, 3.0, 3.0]
    assert [e.action_source.value for e in events] == ["direct"] * 3
    assert [e.world_time_s for e in events] == [0.0, 0.05, 0.1]  # env time at the step's start
    assert "timeline" not in record.extra
