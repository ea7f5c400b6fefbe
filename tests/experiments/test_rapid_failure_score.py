"""Failure-score calibration and the feature-capturing policy wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import envs
from ecc.schedulers import FailureScoreTrigger, StepContext
from experiments.rapid.calibrate_failure_score import calibrate_from_episodes, fit
from experiments.rapid.errors import RapidExperimentError
from experiments.rapid.policies import FeaturePolicy, random_tiny_policy

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


def test_saved_npz_scores_like_the_trigger(tmp_path) -> None:
    rng = np.random.default_rng(1)
    c = fit(rng.normal(size=(50, 16)), 95.0, 0.1)  # fewer rows than a stable covariance needs
    path = c.save(tmp_path / "fs.npz")
    trig = FailureScoreTrigger(calibration=str(path))
    assert trig.threshold == pytest.approx(c.threshold)
    f = rng.normal(size=16) * 3
    ctx = StepContext(5, 3, 8, 5, False, {}, {}, {"features": f})
    assert trig.score(ctx) == pytest.approx(float(c.distance(f)[0]), rel=1e-9)


def test_fit_rejects_bad_input() -> None:
    with pytest.raises(RapidExperimentError, match="features"):
        fit(np.zeros((1, 4)))
    with pytest.raises(RapidExperimentError, match="percentile"):
        fit(np.ones((5, 2)), percentile=0)
    with pytest.raises(RapidExperimentError, match="ridge"):
        fit(np.ones((5, 2)), ridge=0)


def test_calibration_needs_successes_unless_told() -> None:
    eps = [("t", 0, False, np.random.default_rng(0).normal(size=(10, 4)))]
    with pytest.raises(RapidExperimentError, match="0 successful of 1"):
        calibrate_from_episodes(eps, include_failures=False, percentile=95, ridge=0.1)
    c = calibrate_from_episodes(eps, include_failures=True, percentile=95, ridge=0.1)
    assert c.n == 10


@pytest.mark.parametrize("shape", ["openvla-tiny", "pi0-tiny"])  # pi0 never runs llm.norm
def test_feature_policy_adds_features_and_keeps_actions(shape: str) -> None:
    base = random_tiny_policy(shape, chunk=4, seed=0)
    rng = np.random.default_rng(2)
    obs = {
        "agentview_rgb": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
        "wrist_rgb": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
        "eef_pos": np.zeros(3, np.float32), "eef_quat": np.array([1, 0, 0, 0], np.float32),
        "gripper_qpos": np.zeros(2, np.float32), "language": envs.get_task("goal", "open_the_drawer").language,
    }  # fmt: skip
    plain, _ = base.predict_action_chunk(obs)
    wrapped = FeaturePolicy(base)
    wrapped.reset()  # pi0 draws its flow noise per call since reset: same call, same noise
    chunk, info = wrapped.predict_action_chunk(obs)
    assert chunk.shape == (4, 7)
    assert np.array_equal(chunk, plain)
    assert info["features"].shape == (base.shape.llm.hidden,)
    assert ("token_entropy" in info) == (shape == "openvla-tiny")
    obs2 = {**obs, "agentview_rgb": 255 - obs["agentview_rgb"]}
    _, info2 = wrapped.predict_action_chunk(obs2)
    assert not np.allclose(info["features"], info2["features"])  # the feature sees the image
    wrapped.close()


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
