import numpy as np
import pytest

from ecc.errors import EccError
from ecc.runtime import ConstantLatency, SimulatedRuntime
from ecc.schedulers import EveryStep, QueueThreshold, ReplanEveryN


class CountingChunkPolicy:
    """Chunk i holds actions whose first coordinate is 100*i + j (j = index in chunk)."""

    def __init__(self, chunk: int = 4):
        self.chunk = chunk
        self.calls = 0
        self.seen_language: list[str] = []

    def reset(self):
        self.calls = 0

    def predict_action_chunk(self, obs):
        self.seen_language.append(obs.get("language", ""))
        out = np.zeros((self.chunk, 7), dtype=np.float32)
        out[:, 0] = 100 * self.calls + np.arange(self.chunk)
        out[:, -1] = 1.0
        self.calls += 1
        return out, {}


class _Env:
    language = "put the bowl on the plate"


def _play(rt, steps):
    rt.reset(_Env())
    return np.stack([rt.act({}) for _ in range(steps)])


def test_blocking_mode_never_holds_whatever_the_latency():
    policy = CountingChunkPolicy(chunk=4)
    rt = SimulatedRuntime(policy, ConstantLatency(900.0), mode="blocking")
    actions = _play(rt, 8)
    np.testing.assert_array_equal(actions[:, 0], [0, 1, 2, 3, 100, 101, 102, 103])
    assert rt.hold_steps == 0
    assert len(rt.inferences) == 2
    assert policy.seen_language == ["put the bowl on the plate"] * 2


def test_realtime_mode_holds_until_the_chunk_arrives():
    policy = CountingChunkPolicy(chunk=4)
    rt = SimulatedRuntime(policy, ConstantLatency(120.0), mode="realtime", control_hz=20)
    actions = _play(rt, 7)
    # 120 ms at 50 ms per step -> arrives 3 steps later; the robot holds (zero delta, gripper open).
    np.testing.assert_array_equal(actions[:3, :6], 0.0)
    assert np.all(actions[:3, -1] == -1.0)
    np.testing.assert_array_equal(actions[3:7, 0], [0, 1, 2, 3])
    assert rt.hold_steps == 3


def test_realtime_async_request_drops_actions_already_spent():
    policy = CountingChunkPolicy(chunk=6)
    # Ask for the next chunk when 3 actions remain; latency 100 ms = 2 steps.
    rt = SimulatedRuntime(
        policy, ConstantLatency(100.0), QueueThreshold(fraction=0.5), mode="realtime"
    )
    actions = _play(rt, 12)
    # chunk 0 arrives at step 2 (two holds), then plays 0..2; at 3 left it requests chunk 1 (step 5),
    # executes 3, 4 meanwhile, and chunk 1 arrives at step 7 with its first 2 actions dropped.
    assert rt.hold_steps == 2
    np.testing.assert_array_equal(actions[2:7, 0], [0, 1, 2, 3, 4])
    assert actions[7, 0] == 102


def test_longer_latency_lets_more_world_steps_pass_per_inference():
    holds = []
    for ms in (0.0, 50.0, 200.0, 800.0):
        rt = SimulatedRuntime(CountingChunkPolicy(chunk=4), ConstantLatency(ms), mode="realtime")
        _play(rt, 40)
        holds.append(rt.hold_steps / len(rt.inferences))
    assert holds == sorted(holds)
    assert holds[0] == 0
    assert holds[-1] == 16


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mode": "async"}, "runtime.mode"),
        ({"control_hz": 0}, "runtime.control_hz"),
        ({"execute_horizon": 0}, "runtime.execute_horizon"),
    ],
)
def test_bad_runtime_arguments_name_the_field(kwargs, field):
    with pytest.raises(EccError, match=field):
        SimulatedRuntime(CountingChunkPolicy(), ConstantLatency(1.0), **kwargs)


def test_every_step_in_blocking_mode_uses_the_first_action_of_each_chunk():
    policy = CountingChunkPolicy(chunk=4)
    rt = SimulatedRuntime(policy, ConstantLatency(10.0), EveryStep(), mode="blocking")
    actions = _play(rt, 3)
    np.testing.assert_array_equal(actions[:, 0], [0, 100, 200])


def test_replan_every_n_preempts_after_n_actions():
    policy = CountingChunkPolicy(chunk=8)
    rt = SimulatedRuntime(policy, ConstantLatency(0.0), ReplanEveryN(n=3), mode="blocking")
    actions = _play(rt, 7)
    np.testing.assert_array_equal(actions[:, 0], [0, 1, 2, 100, 101, 102, 200])
    assert rt.preemptions == 2


def test_weighted_average_merges_the_overlap():
    policy = CountingChunkPolicy(chunk=4)
    sched = QueueThreshold(fraction=0.5, aggregate="weighted_average", alpha=0.5)
    rt = SimulatedRuntime(policy, ConstantLatency(0.0), sched, mode="blocking")
    actions = _play(rt, 5)
    # After two actions of chunk 0 (2 left: 2, 3), chunk 1 arrives: overlap averaged (100+2)/2, (101+3)/2.
    # Two left again (102, 103) -> chunk 2 (200..) merges: (200 + 102) / 2 = 151.
    np.testing.assert_array_equal(actions[:, 0], [0, 1, 51, 52, 151])
