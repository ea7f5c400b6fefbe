"""SAFE's fit (ecc.schedulers.safe), the study's calibration and the ``features`` policy info field."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import envs
from ecc.errors import InvalidValueError
from ecc.schedulers import FailureScoreTrigger, StepContext
from ecc.schedulers.safe import FailureCalibration, fit
from experiments.rapid.calibrate_failure_score import calibrate_from_episodes
from experiments.rapid.errors import RapidExperimentError

torch.set_num_threads(1)


def test_fit_threshold_is_the_percentile() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6)) * np.array([1, 2, 3, 1, 1, 0.5])
    c = fit(x, percentile=90.0, ridge=1e-3)
    above = np.mean(c.distance(x) > c.threshold)
    assert above == pytest.approx(0.10, abs=0.01)
    # close to the true precision for plenty of data and a tiny ridge
    true_prec = np.diag(1 / np.array([1, 4, 9, 1, 1, 0.25]))
    assert np.allclose(c.precision, true_prec, atol=0.15)


def test_saved_npz_round_trips_and_drives_the_trigger(tmp_path) -> None:
    rng = np.random.default_rng(1)
    c = fit(rng.normal(size=(50, 16)), 95.0, 0.1)  # fewer rows than a stable covariance needs
    back = FailureCalibration.load(c.save(tmp_path / "fs.npz"))
    assert np.array_equal(back.precision, c.precision)
    assert (back.threshold, back.percentile, back.ridge, back.n) == (c.threshold, 95.0, 0.1, 50)
    trig = FailureScoreTrigger(calibration=str(tmp_path / "fs.npz"))
    near = StepContext(5, 3, 8, 5, False, {}, {}, {"features": c.mean})
    far = StepContext(6, 3, 8, 5, False, {}, {}, {"features": c.mean + 100.0})
    assert not trig.decide(near).infer  # distance 0: keep playing the chunk
    assert trig.decide(far).preempt


def test_fit_rejects_bad_input() -> None:
    with pytest.raises(InvalidValueError, match="features"):
        fit(np.zeros((1, 4)))
    with pytest.raises(InvalidValueError, match="percentile"):
        fit(np.ones((5, 2)), percentile=0)
    with pytest.raises(InvalidValueError, match="ridge"):
        fit(np.ones((5, 2)), ridge=0)


def test_calibration_needs_successes_unless_told() -> None:
    eps = [("t", 0, False, np.random.default_rng(0).normal(size=(10, 4)))]
    with pytest.raises(RapidExperimentError, match="0 successful of 1"):
        calibrate_from_episodes(eps, include_failures=False, percentile=95, ridge=0.1)
    c = calibrate_from_episodes(eps, include_failures=True, percentile=95, ridge=0.1)
    assert c.n == 10


def _random_policy(shape_name: str):
    """An untrained tiny VLA (random weights, chunk 4): the hooks only need the architecture."""
    import dataclasses

    from agents.normalize import NormStats
    from agents.policy import PolicyConfig, VLAPolicy
    from agents.tokenizer import WordTokenizer
    from agents.zoo import build_model, get_shape, text_vocab_size

    base = get_shape(shape_name)
    shape = dataclasses.replace(base, head=dataclasses.replace(base.head, chunk=4))
    torch.manual_seed(0)
    model = build_model(shape)
    tok = WordTokenizer.build(["open the drawer"], capacity=text_vocab_size(shape))
    rng = np.random.default_rng(0)
    stats = NormStats.from_data(
        rng.uniform(-0.5, 0.5, (100, 7)), rng.normal(size=(100, shape.proprio_dim or 9))
    )
    return VLAPolicy(model, tok, stats, PolicyConfig())


@pytest.mark.parametrize("shape", ["openvla-tiny", "pi0-tiny"])  # pi0 never runs llm.norm
def test_features_info_field_keeps_actions(shape: str) -> None:
    policy = _random_policy(shape)
    rng = np.random.default_rng(2)
    obs = {
        "agentview_rgb": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
        "wrist_rgb": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
        "eef_pos": np.zeros(3, np.float32), "eef_quat": np.array([1, 0, 0, 0], np.float32),
        "gripper_qpos": np.zeros(2, np.float32), "language": envs.get_task("goal", "open_the_drawer").language,
    }  # fmt: skip
    plain, plain_info = policy.predict_action_chunk(obs)
    assert "features" not in plain_info  # off by default
    policy.config.features = True
    policy.reset()  # pi0 draws its flow noise per call since reset: same call, same noise
    chunk, info = policy.predict_action_chunk(obs)
    assert chunk.shape == (4, 7)
    assert np.array_equal(chunk, plain)
    assert info["features"].shape == (policy.shape.llm.hidden,)
    assert ("token_entropy" in info) == (shape == "openvla-tiny")
    obs2 = {**obs, "agentview_rgb": 255 - obs["agentview_rgb"]}
    _, info2 = policy.predict_action_chunk(obs2)
    assert not np.allclose(info["features"], info2["features"])  # the feature sees the image
    assert not policy.model.llm.norm._forward_hooks  # the hooks last one forward only


def test_cross_fitted_threshold_holds_its_rate_on_new_data() -> None:
    rng = np.random.default_rng(3)
    eps = [("t", k, True, rng.normal(size=(20, 64))) for k in range(6)]  # 120 samples in 64-d
    in_sample = fit(np.concatenate([f for *_, f in eps]), 95.0, 0.1)
    calib = calibrate_from_episodes(eps, include_failures=False, percentile=95.0, ridge=0.1)
    assert calib.threshold > in_sample.threshold  # in-sample distances are biased low
    fresh = rng.normal(size=(4000, 64))
    rate = float(np.mean(calib.distance(fresh) > calib.threshold))
    naive = float(np.mean(calib.distance(fresh) > in_sample.threshold))
    assert abs(rate - 0.05) < abs(naive - 0.05)
    assert rate < 0.15
