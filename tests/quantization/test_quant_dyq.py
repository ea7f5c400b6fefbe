"""DyQ-VLA controller: proxies, lookup, hysteresis, bounded history, calibration."""

import numpy as np
import pytest
import torch

from quantization.apply import quantize_model
from quantization.config import DyQConfig
from quantization.dyq import (
    DyQController,
    calibrate_thresholds,
    error_bound,
    lookup_bits,
    precision_histogram,
    replay_scores,
)
from quantization.errors import CalibrationError
from quantization.linear import quant_linears

torch.set_num_threads(1)


def _coarse(rng, n):
    a = np.zeros((n, 7))
    a[:, 0] = 0.8 + 0.05 * rng.standard_normal(n)  # fast, straight translation
    return a


def _fine(rng, n):
    a = np.zeros((n, 7))
    a[:, :3] = 0.01 * rng.standard_normal((n, 3))  # slow approach
    a[:, 3:6] = 0.3 * rng.standard_normal((n, 3))  # jerky wrist rotation
    return a


def test_lookup_table_edges():
    assert lookup_bits(0.0, [0.1, 0.3], 0.5) == 2
    assert lookup_bits(0.1, [0.1, 0.3], 0.5) == 2
    assert lookup_bits(0.2, [0.1, 0.3], 0.5) == 4
    assert lookup_bits(0.5, [0.1, 0.3], 0.5) == 8
    assert lookup_bits(0.51, [0.1, 0.3], 0.5) == 16
    # calibrated 0 = empty band (the 500-episode run of 2026-11-27 put S = 0 steps at 2 bits)
    assert lookup_bits(0.0, [0.0, 0.3], 0.5) == 4
    assert lookup_bits(0.0, [0.0, 0.0], 0.5) == 8


def test_hysteresis_up_at_once_down_after_k():
    c = DyQController(DyQConfig(hysteresis_k=5, thresholds=[0.1, 0.3]))
    assert c.bits == 16  # warm-up at BF16
    for i in range(4):
        assert c.decide(0.0) == 16, i  # 4 low requests: not yet
    assert c.decide(0.0) == 2  # the 5th
    assert c.decide(0.9) == 16  # up: immediate
    for _ in range(4):
        c.decide(0.0)
    c.decide(0.6)  # an equal-level request resets the count
    for _ in range(4):
        assert c.decide(0.2) == 16
    assert c.decide(0.0) == 4  # highest level requested in the last K steps


def test_coarse_motion_goes_low_and_fine_motion_goes_bf16():
    rng = np.random.default_rng(0)
    c = DyQController()
    for a in _coarse(rng, 40):
        c.update(a)
    assert c.bits <= 4
    assert c.last.s < 0.3
    # Switching to fine manipulation raises precision within a few steps.
    bits = [c.update(a) for a in _fine(rng, 6)]
    assert 16 in bits[:4]
    assert c.last.s > 0.5
    assert c.histogram()[16] > 0
    assert sum(c.histogram().values()) == pytest.approx(1.0)


def test_chunk_update_observes_every_row_and_decides_once():
    rng = np.random.default_rng(1)
    c = DyQController()
    c.update(_coarse(rng, 8))
    assert len(c.timeline) == 1
    assert c._trans.n == 8


def test_history_bounded_under_64kb():
    rng = np.random.default_rng(2)
    c = DyQController()
    before = c.history_bytes()
    for a in np.concatenate([_coarse(rng, 2000), _fine(rng, 2000)]):
        c.observe(a)
    assert c.history_bytes() == before < 64 * 1024


def test_reset_clears_episode_state_but_keeps_magnitude_history():
    rng = np.random.default_rng(3)
    c = DyQController()
    for a in _coarse(rng, 30):
        c.update(a)
    c.reset()
    assert c.timeline == []
    assert c.bits == 16
    assert c._trans.n == 30


def test_bind_sets_model_act_bits(tiny_vla, patches):
    quantize_model(tiny_vla, {"name": "dyq", "weight_bits": 4, "act_bits": 4, "group_size": 16})
    layers = quant_linears(tiny_vla)
    assert layers
    assert {m.act_bits for m in layers} == {16}
    c = DyQController().bind(tiny_vla)
    rng = np.random.default_rng(4)
    outs = set()
    for a in _coarse(rng, 30):
        bits = c.update(a)
        assert {m.act_bits for m in layers} == {bits}
        outs.add(bits)
    assert min(outs) < 16
    with torch.no_grad():
        low = tiny_vla(patches[0])
        for a in _fine(rng, 5):
            if c.update(a) == 16:
                break
        high = tiny_vla(patches[0])
    assert c.bits == 16
    assert not torch.equal(low, high)


def test_replay_scores_matches_controller():
    rng = np.random.default_rng(5)
    acts = np.concatenate([_coarse(rng, 20), _fine(rng, 20)])
    s = replay_scores(acts)
    assert s.shape == (40,)
    assert s[-5:].mean() > s[15:20].mean()
    assert (s >= 0).all()


def test_calibration_finds_the_crossing():
    cfg = DyQConfig(calib_D=0.05, calib_eta=0.1, theta_fp=0.5)
    rng = np.random.default_rng(6)
    s = rng.uniform(0, 0.5, 5000)
    # Constant errors cross eps(S) = D/(S+eta) at S* = D/err - eta.
    err2 = np.full_like(s, 0.25)  # S* = 0.1
    err4 = np.full_like(s, 0.125)  # S* = 0.3
    th = calibrate_thresholds(s, {2: err2, 4: err4, 8: err4 / 4}, cfg, bins=50)
    assert th[0] == pytest.approx(0.1, abs=0.02)
    assert th[1] == pytest.approx(0.3, abs=0.02)
    assert error_bound(np.array([0.1]), 0.05, 0.1)[0] == pytest.approx(0.25)
    # A precision that never violates gets theta_fp; one that always does gets 0.
    th = calibrate_thresholds(s, {2: err2 * 100, 4: err4 / 100}, cfg, bins=20)
    assert th == [0.0, 0.5]
    with pytest.raises(CalibrationError, match="errors"):
        calibrate_thresholds(s, {4: err4}, cfg)


def test_histogram_helper():
    h = precision_histogram([16, 16, 4, 2])
    assert h == {2: 0.25, 4: 0.25, 8: 0.0, 16: 0.5}
    assert precision_histogram([]) == {2: 0.0, 4: 0.0, 8: 0.0, 16: 0.0}


def test_fast_percentile_matches_numpy():
    from quantization.dyq import _percentile

    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 64, 512):
        v = rng.exponential(size=n)
        for q in (1.0, 50.0, 95.0, 100.0):
            assert _percentile(v, q) == pytest.approx(float(np.percentile(v, q)), rel=1e-12)
