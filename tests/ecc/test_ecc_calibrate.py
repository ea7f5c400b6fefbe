"""Calibration profiler: measures this CPU, fits a profile, writes it, loads it by name."""

import numpy as np
import pytest
import torch

from ecc.calibrate import calibrate, measure_model
from ecc.cost import stage_times_ms
from ecc.hardware import load_profile, save_profile


@pytest.mark.timing  # wall-clock fit error: fails on a loaded machine (python -m pytest -m timing)
def test_calibrated_profile_predicts_stage_latency_within_25_percent(tmp_path, monkeypatch):
    monkeypatch.setenv("VLA_ECC_PROFILE_DIR", str(tmp_path))
    cal = calibrate("calib_test", threads=1, repeats=3)
    prof, rep = cal.profile, cal.report
    assert rep["all_median_abs_rel_err"] <= 0.25
    assert rep["tiny_median_abs_rel_err"] <= 0.25  # acceptance: the tiny models
    assert 0 < prof.eff("fp32") <= 1
    assert prof.kernel_overhead_us + prof.stage_overhead_us > 0
    save_profile(prof)
    again = load_profile("calib_test")  # found by name in the user profile directory
    assert again.mem_eff == prof.mem_eff
    assert again.calibrated["stages"] == rep["stages"]


def test_calibrated_profile_is_saved_and_found_by_name(tmp_path, monkeypatch):
    """The calibration's bookkeeping, without its wall-clock accuracy (that is the timing test)."""
    monkeypatch.setenv("VLA_ECC_PROFILE_DIR", str(tmp_path))
    cal = calibrate("calib_test", threads=1, repeats=1)
    prof, rep = cal.profile, cal.report
    assert np.isfinite(rep["all_median_abs_rel_err"])
    assert 0 < prof.eff("fp32") <= 1
    save_profile(prof)
    again = load_profile("calib_test")
    assert again.mem_eff == prof.mem_eff
    assert again.calibrated["stages"] == rep["stages"]


def test_measurements_align_with_trace():
    from agents import zoo

    torch.set_num_threads(1)
    m = measure_model(zoo.get_shape("oft-tiny"), torch.device("cpu"), torch.float32, repeats=5)
    assert len(m.measured_ms) == len(m.trace.stages)
    assert np.all(m.measured_ms > 0)
    pred = stage_times_ms(m.trace, load_profile("local_cpu"), "fp32")
    assert pred.shape == m.measured_ms.shape
    # How close prediction and measurement are is a timing question for `vecc-tool tool=calibrate_hardware`
    # (it prints the median error), not for a unit test on a shared 2-core machine.


def test_validate_profile_scores_a_named_profile_against_measured_stages():
    from agents import zoo
    from ecc.calibrate import HardwareFit, validate_profile

    torch.set_num_threads(1)
    m = measure_model(zoo.get_shape("pi0-tiny"), torch.device("cpu"), torch.float32, repeats=2)
    assert m.whole_ms > 0
    prof = load_profile("local_cpu")
    v = validate_profile(prof, [m], "fp32")
    row = v["models"]["pi0-tiny"]
    pred = stage_times_ms(m.trace, prof, "fp32")
    assert row["stages"] == len(m.trace.stages)
    assert np.isclose(row["predicted_total_ms"], pred.sum())
    assert np.isclose(row["total_rel_err"], pred.sum() / m.measured_ms.sum() - 1)
    doc = HardwareFit(prof, {}, [m], {"local_cpu": v}).to_json()
    assert doc["precision"] == "fp32"
    assert [s["name"] for s in doc["models"][0]["stages"]] == [s.name for s in m.trace.stages]


def test_real_shape_set_is_the_published_models_and_bad_names_are_refused():
    from agents import zoo
    from ecc.calibrate import calibration_shapes
    from ecc.errors import UnknownNameError

    assert [s.name for s in calibration_shapes("real")] == list(zoo.REAL_SHAPES)
    with pytest.raises(UnknownNameError, match=r"shapes='huge'.*allowed: tiny, real"):
        calibration_shapes("huge")
    from ecc.calibrate import calibrate

    with pytest.raises(UnknownNameError, match="no_such_profile"):
        calibrate("x", validate=("no_such_profile",))


@pytest.mark.parametrize(
    ("gpu", "datasheet"), [("h200", "h200"), ("h100", "h100_sxm")]
)  # fmt: skip
def test_committed_gpu_measurement_validates_the_datasheet_on_graphs_and_the_eager_fit(
    tmp_path, gpu, datasheet
):
    """The stages measured on a lent GPU (docs/measurements) still align with today's traces;
    the datasheet profile predicts the CUDA-graph replay of every model, the eager fit made on
    that GPU the eager run."""
    import json
    from pathlib import Path

    from ecc.calibrate import load_report, validate_profile
    from ecc.errors import InvalidValueError

    report = Path(__file__).resolve().parents[2] / f"docs/measurements/{gpu}_real_stages.json"
    ms = load_report(report)
    assert [m.trace.shape_name for m in ms] == [
        "openvla-7b", "openvla-oft-7b", "cogact-base", "pi0-3b", "smolvla-450m"
    ]  # fmt: skip
    sheet = validate_profile(load_profile(datasheet), ms, "bf16")
    eager = validate_profile(load_profile(f"{gpu}_eager"), ms, "bf16")
    for name, row in sheet["models"].items():
        assert abs(row["graph_rel_err"]) < 0.25, name  # GPU time: the roofline holds
        assert row["total_rel_err"] < -0.5, name  # eager stages: host dispatch dominates
        assert abs(eager["models"][name]["total_rel_err"]) < 0.3, name
    doc = json.loads(report.read_text())
    doc["models"][0]["stages"].pop()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(InvalidValueError, match=r"models\[openvla-7b\]\.stages"):
        load_report(bad)
