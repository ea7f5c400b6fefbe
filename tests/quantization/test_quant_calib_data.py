"""Calibration batches built from demonstration arrays feed SmoothQuant and QVLA on zoo policies."""

import numpy as np
import pytest
import torch

from agents.data import DemoArrays
from agents.policy import PolicyConfig
from quantization.apply import quantize_model
from quantization.calib_data import demo_calibration
from quantization.errors import CalibrationError
from quantization.linear import quant_linears
from quantization.mixed import MixedQuantLinear
from tests.agents.random_policy import random_policy

torch.set_num_threads(1)
INSTR = ["pick up the bowl", "open the drawer"]


def _policy(name):
    return random_policy(name, INSTR, PolicyConfig())


def _demos(n=30, size=64):
    rng = np.random.default_rng(0)
    return DemoArrays(
        images=rng.integers(0, 255, (n, 2, size, size, 3), dtype=np.uint8),
        proprio=rng.normal(size=(n, 9)).astype(np.float32),
        actions=rng.uniform(-1, 1, (n, 7)).astype(np.float32),
        demo_start=np.array([0, n // 2]),
        demo_len=np.array([n // 2, n - n // 2]),
        demo_of_row=np.repeat([0, 1], [n // 2, n - n // 2]),
        languages=list(INSTR),
    )


@pytest.mark.parametrize("name", ["oft-tiny", "openvla-tiny", "pi0-tiny"])
def test_demo_frames_calibrate_smoothquant_and_channel_qvla(name):
    pol = _policy(name)
    calib = demo_calibration(pol, _demos(), n_batches=2, batch_size=2)
    assert calib.batches[0]["images"].shape[:2] == (2, pol.shape.cameras)
    rep = quantize_model(pol.model, {"name": "smoothquant", "weight_bits": 8, "act_bits": 8}, calib)
    assert all(m.input_scale is not None for m in quant_linears(pol.model))
    assert rep.num_layers > 10
    pol2 = _policy(name)
    rep = quantize_model(
        pol2.model,
        {
            "name": "qvla",
            "weight_bits": 4,
            "act_bits": 16,
            "group_size": 32,
            "qvla": {"calib_batches": 2, "probes": 2},
        },
        demo_calibration(pol2, _demos(), n_batches=2, batch_size=1),
    )
    bits, sizes = [], []
    for layer_name, info in rep.layers.items():
        mod = pol2.model.get_submodule(layer_name)
        bits.append(info["weight_bits"])
        sizes.append(mod.in_features * mod.out_features)
    assert min(bits) >= 2
    assert max(bits) <= 8
    avg = sum(b * n for b, n in zip(bits, sizes)) / sum(sizes)
    assert avg <= 4.0 + 1e-6  # the parameter-weighted budget holds
    assert any(isinstance(m, MixedQuantLinear) for m in pol2.model.modules())


def test_demo_calibration_rejects_empty():
    pol = _policy("oft-tiny")
    empty = _demos()
    empty.actions = empty.actions[:0]
    with pytest.raises(CalibrationError, match="no frames"):
        demo_calibration(pol, empty)


def _write_demos_hdf5(path, n_demos=2, steps=25, size=64):
    import h5py

    rng = np.random.default_rng(3)
    with h5py.File(path, "w") as f:
        for d in range(n_demos):
            g = f.create_group(f"data/demo_{d}")
            g.attrs["language"] = INSTR[d % len(INSTR)]
            for cam in ("agentview_rgb", "wrist_rgb"):
                g[f"obs/{cam}"] = rng.integers(0, 255, (steps, size, size, 3), dtype=np.uint8)
            g["obs/eef_pos"] = rng.normal(size=(steps, 3)).astype(np.float32)
            g["obs/eef_quat"] = rng.normal(size=(steps, 4)).astype(np.float32)
            g["obs/gripper_qpos"] = rng.normal(size=(steps, 2)).astype(np.float32)
            a = np.zeros((steps, 7), np.float32)
            a[: steps // 2, 0] = 0.8  # coarse transit, then fine rotation
            a[steps // 2 :, 3:6] = rng.normal(0, 0.3, (steps - steps // 2, 3))
            g["actions"] = a


def test_collect_from_policy_errors_order_by_bits():
    from quantization.calibrate_dyq import calibrate_arrays, collect_from_policy
    from quantization.config import DyQConfig

    pol = _policy("oft-tiny")
    demos = _demos(n=20)
    data = collect_from_policy(pol, demos, stride=2)
    assert data["err_2"].shape == (20,)
    assert np.isnan(data["err_2"][1])
    e = {b: np.nanmean(data[f"err_{b}"]) for b in (2, 4, 8)}
    assert e[2] > e[4] > e[8] > 0
    th = calibrate_arrays(data, DyQConfig(), bins=2)
    assert 0 <= th[0] <= th[1] <= 0.5


def test_calibration_command_from_checkpoint_and_demos(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from omegaconf import OmegaConf

    from agents.policy import save_checkpoint

    ckpt = save_checkpoint(tmp_path / "ckpt", _policy("oft-tiny"))
    demos = tmp_path / "demos.hdf5"
    _write_demos_hdf5(demos)
    out, saved = tmp_path / "dyq.yaml", tmp_path / "calib.npz"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.tool",
            "tool=calibrate_dyq",
            f"checkpoint={ckpt}",
            f"demos={demos}",
            "stride=5",
            "bins=2",
            "group_size=32",
            f"out={out}",
            f"save_data={saved}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert res.returncode == 0, res.stderr[-2000:]
    th = OmegaConf.load(out).quantization.dyq.thresholds
    assert 0 <= th[0] <= th[1] <= 0.5
    with np.load(saved, allow_pickle=False) as data:
        assert data["actions"].shape == (50, 7)
        assert np.isfinite(data["err_4"]).sum() == 10
