"""Calibration frames for SmoothQuant / QVLA in the main job."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from experiments.calibration import calibration_for
from experiments.config_checks import ConfigError


@pytest.mark.parametrize("method", ["smoothquant", "qvla"])
def test_calibrated_method_without_demos_names_the_field(method: str) -> None:
    cfg = OmegaConf.create({"quantization": {"name": method}})
    with pytest.raises(ConfigError, match=r"\+calibration\.demos=") as e:
        calibration_for(cfg, policy=None)
    assert f"quantization={method}" in str(e.value)


@pytest.mark.parametrize("method", ["none", "w4a4", "dyq"])
def test_other_methods_need_no_calibration(method: str) -> None:
    cfg = OmegaConf.create({"quantization": {"name": method}})
    assert calibration_for(cfg, policy=None) is None


def test_missing_demos_file_is_refused_before_loading(tmp_path) -> None:
    missing = tmp_path / "nope.hdf5"
    cfg = OmegaConf.create(
        {"quantization": {"name": "qvla"}, "calibration": {"demos": str(missing)}}
    )
    with pytest.raises(ConfigError, match=r"calibration\.demos='.*nope\.hdf5' is not a file"):
        calibration_for(cfg, policy=None)
