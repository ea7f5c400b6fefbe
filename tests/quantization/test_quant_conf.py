"""Every conf/quantization yaml validates; the DyQ calibration command runs end to end."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from quantization.apply import quantize_model
from quantization.calibrate_dyq import per_precision_action_errors
from quantization.config import method_config
from quantization.dyq import DyQController
from quantization.errors import CalibrationError

ROOT = Path(__file__).resolve().parents[2]
CONFS = sorted((ROOT / "conf" / "quantization").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFS, ids=lambda p: p.stem)
def test_conf_files_validate(path):
    cfg = method_config(OmegaConf.load(path))
    assert cfg.name in path.stem or (cfg.name == "none" and path.stem in ("none", "bf16"))


def test_dyq_conf_carries_paper_values():
    cfg = method_config(OmegaConf.load(ROOT / "conf/quantization/dyq.yaml"))
    d = cfg.dyq
    assert (d.w_macro, d.w_micro, d.lam, d.theta_fp, d.hysteresis_k) == (10, 5, 0.5, 0.5, 5)
    assert cfg.weight_bits == 4
    assert DyQController(d).bits == 16


def test_calibration_cli_writes_thresholds(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    actions = rng.normal(0, 0.3, (n, 7))
    actions[: n // 2, :3] *= 5  # coarse half
    episode = np.repeat([0, 1], n // 2)
    data = tmp_path / "calib.npz"
    np.savez(data, actions=actions, episode=episode, err_2=np.full(n, 0.2), err_4=np.full(n, 0.1))
    out = tmp_path / "dyq_cal.yaml"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.tool",
            "tool=calibrate_dyq",
            f"data={data}",
            f"out={out}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "th_2|4=" in res.stdout
    th = OmegaConf.load(out).quantization.dyq.thresholds
    assert 0 <= th[0] <= th[1] <= 0.5
    # eps(S)=0.05/(S+0.1) crosses 0.1 at S=0.4 and 0.2 at S=0.15
    assert th[1] == pytest.approx(0.4, abs=0.1)
    bad = tmp_path / "bad.npz"
    np.savez(bad, actions=actions)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.tool",
            "tool=calibrate_dyq",
            f"data={bad}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert res.returncode != 0
    assert "missing arrays" in res.stderr
    assert issubclass(CalibrationError, ValueError)


def test_per_precision_errors_grow_as_bits_drop(tiny_vla, patches):
    quantize_model(tiny_vla, {"name": "dyq", "weight_bits": 4, "group_size": 16})
    errs = per_precision_action_errors(tiny_vla, patches)
    assert errs[2].mean() > errs[4].mean() > errs[8].mean() > 0
    assert len(errs[8]) == len(patches)
    assert {m.act_bits for m in tiny_vla.modules() if hasattr(m, "act_bits")} == {16}
    torch.set_num_threads(1)


@pytest.mark.parametrize("name", ["dyq", "w8a8", "smoothquant_w4a4"])
def test_hydra_composes_the_group(name):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"quantization={name}"])
    qc = method_config(cfg.quantization)
    assert qc.name == name.split("_")[0]
