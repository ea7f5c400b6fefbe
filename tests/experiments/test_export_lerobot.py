"""tool=export_lerobot: demos -> LeRobotDataset, checkpoint -> LeRobot-style directory."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from agents.lerobot_format import load_any_demos
from agents.policy import load_policy
from experiments.apps import run_app


def _demos(path):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for i, t in enumerate((3, 4)):
            g = f.create_group(f"data/demo_{i}")
            g.attrs["language"] = "pick up the milk"
            for k in ("agentview_rgb", "wrist_rgb"):
                g[f"obs/{k}"] = rng.integers(0, 256, (t, 8, 8, 3), dtype=np.uint8)
            for k, d in (("eef_pos", 3), ("eef_quat", 4), ("gripper_qpos", 2)):
                g[f"obs/{k}"] = rng.normal(size=(t, d)).astype(np.float32)
            g["actions"] = rng.uniform(-1, 1, (t, 7)).astype(np.float32)
    return path


def test_exports_demos_and_a_checkpoint(tmp_path, random_checkpoint, capsys):
    h5 = _demos(tmp_path / "d.hdf5")
    run_app("tool", "export_lerobot", [f"demos={h5}", f"out={tmp_path / 'ds'}"])
    assert "2 episodes, 7 frames, 1 tasks" in capsys.readouterr().out
    d = load_any_demos(tmp_path / "ds", ("agentview_rgb", "wrist_rgb"), ("eef_pos",), 8)
    assert d.demo_len.tolist() == [3, 4]
    run_app("tool", "export_lerobot", [f"checkpoint={random_checkpoint}", f"out={tmp_path / 'ck'}"])
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert cfg["type"] == "vecc_oft"
    assert cfg["vecc"]["extra"]["exported_from"] == str(random_checkpoint)
    assert load_policy(tmp_path / "ck").shape.name == "oft-tiny"
    with pytest.raises(ValueError, match="exactly one of"):
        run_app("tool", "export_lerobot", [f"out={tmp_path / 'x'}"])
