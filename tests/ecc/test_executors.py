"""Executors: the contract, today's behaviour through ``executor=scheduler``, the merges, the
RTC mask and guided sampling on the committed checkpoints, family refusals, the d >= H warning."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ecc.executors import (
    EXECUTORS,
    AsyncExecutor,
    BidExecutor,
    ExecutorFamilyError,
    RtcExecutor,
    SchedulerExecutor,
    TemporalEnsembleExecutor,
    bid_scores,
    prefix_weights,
)
from ecc.executors.checker import StandInPolicy, check_executor
from ecc.runtime import ConstantLatency, SimulatedRuntime
from ecc.schedulers import QueueThreshold, StepContext

ROOT = Path(__file__).resolve().parents[2]


class _Counting:
    """Chunk policy whose action i of call c is c * 100 + i (every action traceable)."""

    def __init__(self, chunk: int = 8) -> None:
        self.chunk, self.calls = chunk, 0

    def reset(self) -> None:
        self.calls = 0

    def predict_action_chunk(self, obs):
        c = np.zeros((self.chunk, 7), np.float32)
        c[:, 0] = self.calls * 100 + np.arange(self.chunk)
        c[:, -1] = 1.0
        self.calls += 1
        return c, {}


def _play(rt: SimulatedRuntime, steps: int) -> np.ndarray:
    rt.reset(object())
    return np.stack([rt.act({}) for _ in range(steps)])


@pytest.mark.parametrize("name", sorted(set(EXECUTORS) - {"scheduler"}))
def test_every_registered_executor_keeps_the_contract(name) -> None:
    check_executor(EXECUTORS[name])


@pytest.mark.parametrize("aggregate", ["latest", "weighted_average"])
@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_scheduler_executor_acts_exactly_as_the_runtime_without_one(aggregate, fraction) -> None:
    def run(executor):
        sched = QueueThreshold(fraction=fraction, aggregate=aggregate, alpha=0.3)
        rt = SimulatedRuntime(_Counting(), ConstantLatency(160.0), scheduler=sched,
                              mode="realtime", executor=executor)  # fmt: skip
        return _play(rt, 60), rt.episode_stats()

    plain, stats = run(None)
    through, stats_ex = run(SchedulerExecutor())
    assert np.array_equal(plain, through)
    assert stats["hold_steps"] == stats_ex["hold_steps"]
    assert stats_ex["scheduler"] == "queue_threshold"
    assert stats_ex["executor"] == "scheduler"
    assert stats["stale_dropped"] == stats_ex["stale_dropped"]


def test_async_drops_stale_actions_and_adaptive_threshold_hides_the_delay() -> None:
    def run(executor):
        rt = SimulatedRuntime(_Counting(), ConstantLatency(250.0), mode="realtime",
                              executor=executor)  # fmt: skip
        _play(rt, 80)
        return rt.episode_stats()

    fixed = run(AsyncExecutor(fraction=0.25))  # requests at 2 left, d = 5: holds 3 per chunk
    adaptive = run(AsyncExecutor(fraction=0.25, adaptive=True))  # requests at 5 left
    assert fixed["stale_dropped"] > 0
    assert adaptive["executor"] == "async_adaptive"
    assert adaptive["hold_steps"] < fixed["hold_steps"]


def test_temporal_ensemble_averages_every_prediction_of_a_timestep() -> None:
    ex = TemporalEnsembleExecutor(m=0.0)  # equal weights: plain means
    a = np.full((4, 7), 1.0, np.float32)
    first = ex.merge(a[:0], a)
    assert np.array_equal(first, a)
    second = ex.merge(first[1:], np.full((4, 7), 4.0, np.float32))  # 3 rows overlap
    assert np.allclose(second[:3, 0], 2.5)
    assert second[3, 0] == 4.0
    third = ex.merge(second[1:], np.full((4, 7), 7.0, np.float32))
    assert np.allclose(third[:2, 0], 4.0)  # (1 + 4 + 7) / 3: three predictions of that step
    assert np.allclose(third[2, 0], 5.5)


def test_rtc_mask_freezes_d_steps_decays_over_the_overlap_and_frees_the_rest() -> None:
    w = prefix_weights(delay=2, overlap_end=6, horizon=8)
    assert np.array_equal(w[:2], [1, 1])
    assert np.array_equal(w[6:], [0, 0])
    assert np.all(np.diff(w[2:6]) < 0)
    assert 0 < w[5] < w[2] < 1


def test_bid_keeps_the_candidate_coherent_with_the_committed_actions() -> None:
    rng = np.random.default_rng(0)
    committed = rng.normal(size=(5, 7))
    chunks = rng.normal(size=(6, 8, 7))
    chunks[3, :5] = committed
    assert int(np.argmin(bid_scores(chunks, committed, 0.9, 0.0))) == 3


def test_sampling_executors_refuse_deterministic_families() -> None:
    class _Ar(StandInPolicy):
        pass

    ar = _Ar()
    ar.shape = type("S", (), {"family": "openvla", "head": ar.shape.head})
    for ex in (RtcExecutor(), BidExecutor()):
        with pytest.raises(ExecutorFamilyError, match=r"openvla.*'pi0', 'cogact'") as err:
            ex.bind(ar, None, 20.0)
        assert ex.name in str(err.value)


def test_an_executor_that_needs_overlap_warns_once_at_d_ge_h(caplog) -> None:
    ex = RtcExecutor()
    with caplog.at_level(logging.WARNING, logger="ecc.executors.base"):
        for _ in range(5):
            ex.observe_delay(16, 8)
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1
    assert "d=16 >= H=8" in msgs[0]
    assert "rtc" in msgs[0]
    ctx = StepContext(0, 7, 8, 0, False, {}, {})
    adaptive = AsyncExecutor(fraction=0.5, adaptive=True)
    assert adaptive.threshold(ctx) == 4.0
    adaptive.observe_delay(6, 8)
    assert adaptive.threshold(ctx) == 6.0  # fraction >= d / H
    adaptive.observe_delay(9, 8)
    assert adaptive.threshold(ctx) == 0.0  # d >= H: early requests only buy stale actions
    ex.reset()
    assert ex.delay_estimate == 0


def _obs(pol) -> dict:
    rng = np.random.default_rng(0)
    s = pol.shape.vision[0].image_size
    obs = {k: rng.integers(0, 255, (s, s, 3), dtype=np.uint8) for k in pol.config.camera_keys}
    obs.update(language="pick up the alphabet soup and place it in the basket",
               eef_pos=np.zeros(3, np.float32), eef_quat=np.array([1, 0, 0, 0], np.float32),
               gripper_qpos=np.zeros(2, np.float32))  # fmt: skip
    return obs


@pytest.mark.parametrize("name", ["pi0_tiny", "cogact_tiny"])
def test_guided_sampling_pulls_toward_the_prefix_and_is_a_no_op_without_weights(name) -> None:
    from agents.policy import load_policy  # torch: only this test needs it

    pol = load_policy(ROOT / "checkpoints" / "object" / name)
    obs, h = _obs(pol), pol.shape.head.chunk
    pol.reset()
    plain, _ = pol.predict_action_chunk(obs)
    pol.reset()
    samples, _ = pol.sample_action_chunks(obs, 3)
    assert np.allclose(samples[0], plain, atol=1e-5)  # sample 0 is the acted noise
    target = samples[1]
    pol.reset()
    same, _ = pol.predict_action_chunk_guided(obs, target, np.zeros(h, np.float32))
    assert np.array_equal(same, plain)  # zero mask: the checkpoint's own actions, bit for bit
    pol.reset()
    guided, _ = pol.predict_action_chunk_guided(obs, target, prefix_weights(3, 6, h))
    dist = lambda x: float(np.abs(x[:3] - target[:3]).mean())  # noqa: E731
    assert dist(guided) < 0.9 * dist(plain)
