"""Link model, bandwidth traces (incl. Mahimahi round trip) and predictors."""

import numpy as np
import pytest
import torch

from ecc.errors import EccError, UnknownNameError
from ecc.network.link import PRESETS, LinkState, link_preset
from ecc.network.lstm import LSTMPredictor, train_lstm
from ecc.network.predictors import effective_bandwidth_mbps, make_predictor
from ecc.network.schedule import load_mahimahi
from ecc.network.traces import (
    constant,
    make_trace,
    markov,
    random_walk,
    step,
    write_mahimahi,
)


def test_message_time_formula():
    link = LinkState(8.0, 80.0, delay_ms=10, overhead_bytes=0, overhead_ms=0)
    assert link.message_ms(1_000_000, "up") == pytest.approx(10 + 1000)  # 8 Mbit at 8 Mbit/s
    assert link.message_ms(1_000_000, "down") == pytest.approx(10 + 100)
    lossy = LinkState(8.0, 80.0, delay_ms=10, loss=0.5, overhead_bytes=0, overhead_ms=0)
    assert lossy.message_ms(0, "up") == pytest.approx(
        10 + 1 * 1.0 * 20
    )  # one segment, p/(1-p)=1, RTT penalty


def test_sampled_message_time_is_unbiased_without_loss():
    link = LinkState(10, 10, delay_ms=20, jitter_ms=5)
    rng = np.random.default_rng(0)
    draws = [link.sample_message_ms(10_000, "up", rng) for _ in range(4000)]
    assert np.mean(draws) == pytest.approx(link.message_ms(10_000, "up"), rel=0.02)
    assert np.std(draws) > 3


def test_presets_span_cellular_to_lan():
    assert set(PRESETS) == {"ethernet", "wifi", "5g", "lte", "3g"}
    assert link_preset("lte").up_mbps <= 1.0 < link_preset("wifi").up_mbps
    with pytest.raises(UnknownNameError, match="network='6g'"):
        link_preset("6g")


def test_traces_are_seeded_and_bounded():
    a, b = random_walk(50, 0.2, 1, 200, seed=3), random_walk(50, 0.2, 1, 200, seed=3)
    assert np.array_equal(a.mbps, b.mbps)
    assert a.mbps.min() >= 1 - 1e-9
    assert a.mbps.max() <= 200 + 1e-9
    m = markov(100, 1, 0.1, 0.1, seed=1)
    assert np.mean(m.mbps < 10) == pytest.approx(0.5, abs=0.2)
    s = step([10, 1], period_s=5, duration_s=20)
    assert s.at(0) == 10
    assert s.at(5.5) == 1
    assert s.at(21) == 10  # loops
    assert constant(7).at(1e6) == 7
    with pytest.raises(UnknownNameError):
        make_trace("sine")


def test_mahimahi_round_trip(tmp_path):
    tr = step([12.0, 3.0], period_s=1.0, duration_s=4.0)
    f = write_mahimahi(tr, tmp_path / "link.trace")
    back = load_mahimahi(f, bin_ms=500)
    assert back.mean_mbps() == pytest.approx(tr.mean_mbps(), rel=0.02)
    assert back.at(0.2) == pytest.approx(12.0, rel=0.05)
    assert back.at(1.2) == pytest.approx(3.0, rel=0.05)
    bad = tmp_path / "bad.trace"
    bad.write_text("1\n2\nxx\n")
    with pytest.raises(EccError, match=r"bad\.trace:3"):
        load_mahimahi(bad)


def test_effective_bandwidth_and_predictors():
    assert effective_bandwidth_mbps(1_000_000, rtt_ms=900, remote_ms=100) == pytest.approx(10.0)
    with pytest.raises(EccError, match="rtt_ms"):
        effective_bandwidth_mbps(100, rtt_ms=10, remote_ms=20)
    ma = make_predictor("moving_average", window=3, space="linear")
    for v in (1, 2, 3, 4):
        ma.update(v)
    assert ma.predict() == pytest.approx(3.0)
    ew = make_predictor("ewma", alpha=0.5)
    ew.update(100)
    ew.update(1)
    assert ew.predict() == pytest.approx(10.0)  # geometric: log-space average
    with pytest.raises(UnknownNameError):
        make_predictor("arima")


def test_lstm_trains_saves_and_loads(tmp_path):
    torch.manual_seed(0)
    tr = markov(100, 5, 0.05, 0.1, dt_s=0.5, duration_s=200, noise=0.05, seed=0)
    pred, m = train_lstm(tr.mbps, window=10, hidden=16, epochs=5)
    assert m["train_mse"] < 1.5 * m["naive_mse"]
    path = pred.save(tmp_path / "bw.safetensors")
    again = LSTMPredictor.load(path)
    for v in tr.mbps[:15]:
        pred.update(v)
        again.update(v)
    assert again.predict() == pytest.approx(pred.predict())
    assert 1 < pred.predict() < 500
