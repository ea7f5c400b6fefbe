import numpy as np
import pytest

from ecc.errors import EccError
from ecc.schedulers import EntropyTrigger, FailureScoreTrigger, RapidTrigger, StepContext


def _info(speed: float, jerk: float = 0.0, torque_jump: float = 0.0, rng=None):
    """500 Hz history of one control step: smooth motion at `speed` rad/s plus optional disturbances."""
    rng = rng or np.random.default_rng(0)
    t = np.arange(25)[:, None]
    vel = np.full((25, 7), speed / np.sqrt(7)) + 1e-3 * rng.standard_normal((25, 7))
    vel += jerk * (t >= 12)  # a velocity step = an acceleration spike
    tau = np.ones((25, 7)) + 1e-3 * rng.standard_normal((25, 7))
    tau += torque_jump * (t >= 12)
    return {"joint_vel_history": vel, "joint_torque_history": tau}


def _ctx(step, info, queue_len=5, pending=False, last=None):
    return StepContext(step, queue_len, 8, 1, pending, {}, info, last or {})


def test_rapid_stays_redundant_in_smooth_motion_and_fires_on_a_spike():
    rng = np.random.default_rng(1)
    sched = RapidTrigger(window=10, high=4.0, low=2.0, cooldown=3, warmup=3)
    decisions = [sched.decide(_ctx(k, _info(1.0, rng=rng))) for k in range(30)]
    assert not any(d.preempt for d in decisions)
    spike = sched.decide(_ctx(30, _info(1.0, jerk=0.5, rng=rng)))
    assert spike.preempt
    assert spike.reason == "critical"
    assert sched.trace[-1]["importance"] > 4.0
    assert sched.trace[-1]["w_acc"] > 0.9  # fast motion weights acceleration


def test_rapid_uses_torque_when_slow_and_respects_cooldown():
    rng = np.random.default_rng(2)
    sched = RapidTrigger(window=10, high=4.0, low=2.0, cooldown=50, warmup=3)
    for k in range(20):
        sched.decide(_ctx(k, _info(0.0, rng=rng)))
    first = sched.decide(_ctx(20, _info(0.0, torque_jump=0.2, rng=rng)))
    assert first.preempt
    assert sched.trace[-1]["w_acc"] < 0.1  # slow (contact) phase weights torque
    for k in range(21, 30):  # calm again: leaves the critical phase
        sched.decide(_ctx(k, _info(0.0, rng=rng)))
    second = sched.decide(_ctx(30, _info(0.0, torque_jump=0.2, rng=rng)))
    assert not second.preempt  # within the cooldown


def test_rapid_replans_when_the_chunk_is_used_up_and_reports_redundancy():
    sched = RapidTrigger(window=5)
    d = sched.decide(_ctx(0, {}, queue_len=0))
    assert d.infer
    assert d.reason == "chunk_empty"
    for k in range(1, 10):
        sched.decide(_ctx(k, _info(0.5), queue_len=3))
    assert sched.redundant_fraction() == pytest.approx(0.9)


def test_rapid_rejects_inverted_thresholds():
    with pytest.raises(EccError, match=r"scheduler\.low"):
        RapidTrigger(high=1.0, low=2.0)


def test_entropy_trigger_preempts_only_above_threshold():
    sched = EntropyTrigger(threshold=1.0)
    calm = sched.decide(_ctx(1, {}, last={"entropy": np.array([0.2, 0.4])}))
    assert not calm.infer
    noisy = sched.decide(_ctx(2, {}, last={"entropy": np.array([1.5, 2.0])}))
    assert noisy.preempt
    assert noisy.target == "cloud"
    with pytest.raises(EccError, match=r"scheduler\.signal"):
        sched.decide(_ctx(3, {}, last={"spread": 1.0}))


def test_failure_score_needs_a_calibration_and_uses_it(tmp_path):
    with pytest.raises(EccError, match=r"scheduler\.calibration"):
        FailureScoreTrigger()
    path = tmp_path / "cal.npz"
    np.savez(path, mean=np.zeros(3), precision=np.eye(3), threshold=np.array(2.0))
    sched = FailureScoreTrigger(calibration=str(path))
    assert not sched.decide(_ctx(1, {}, last={"features": np.array([1.0, 0.0, 0.0])})).infer
    assert sched.decide(_ctx(2, {}, last={"features": np.array([3.0, 0.0, 0.0])})).preempt
