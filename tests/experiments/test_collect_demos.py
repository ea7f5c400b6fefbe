"""collect_demos writes the robomimic/LIBERO HDF5 layout (real env, real expert, tiny run)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from experiments.apps import run_app

torch.set_num_threads(1)


def test_collect_demos_layout(tmp_path) -> None:
    out = tmp_path / "demos.hdf5"
    rc = run_app("tool", "collect_demos", [
        "suite=object", "tasks=[milk_in_basket]", "n_per_task=2", f"out={out}", "image_size=32",
        "noise=0.05", "seed=3",
    ])  # fmt: skip
    assert rc == 0
    with h5py.File(out, "r") as f:
        data = f["data"]
        assert sorted(data.keys()) == ["demo_0", "demo_1"]
        env_args = json.loads(data.attrs["env_args"])
        assert env_args["env_kwargs"]["suite"] == "object"
        assert env_args["env_kwargs"]["image_size"] == 32
        prov = json.loads(data.attrs["provenance"])
        assert prov["versions"]["mujoco"]
        assert "commit" in prov["git"]
        assert json.loads(data.attrs["expert"])["privileged"] is True
        assert json.loads(data.attrs["failures"]) == {"milk_in_basket": 0}
        assert int(data.attrs["seed"]) == 3
        total = 0
        for name in ("demo_0", "demo_1"):
            demo = data[name]
            t = int(demo.attrs["num_samples"])
            total += t
            assert demo.attrs["language"] == "pick up the milk and place it in the basket"
            assert demo.attrs["suite"] == "object"
            assert demo.attrs["task"] == "milk_in_basket"
            assert 0 <= int(demo.attrs["init_state"]) < 50
            obs = demo["obs"]
            assert obs["agentview_rgb"].shape == (t, 32, 32, 3)
            assert obs["agentview_rgb"].dtype == np.uint8
            assert obs["wrist_rgb"].shape == (t, 32, 32, 3)
            for key, dim in (
                ("eef_pos", 3),
                ("eef_quat", 4),
                ("gripper_qpos", 2),
                ("joint_pos", 7),
            ):
                assert obs[key].shape == (t, dim), key
            assert demo["actions"].shape == (t, 7)
            assert demo["actions"].dtype == np.float32
            assert np.all(np.abs(demo["actions"][()]) <= 1.0)
            assert demo["executed_actions"].shape == (t, 7)
            assert demo["states"].ndim == 2
            assert demo["states"].shape[0] == t
            assert demo["rewards"].shape == (t,)
            assert demo["rewards"][-1] == 1.0
            dones = demo["dones"][()]
            assert dones[-1] == 1
            assert dones[:-1].sum() == 0
            # the camera sees the scene change over the episode
            frames = obs["agentview_rgb"]
            assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 0.5
        assert int(data.attrs["total"]) == total
        mask = [n.decode() for n in f["mask/object/milk_in_basket"][()]]
        assert mask == ["demo_0", "demo_1"]
    # shards are merged and removed
    assert [p.name for p in tmp_path.iterdir()] == ["demos.hdf5"]


def test_collect_demos_rejects_unknown_task(tmp_path) -> None:
    with pytest.raises(ValueError, match="no_such_task"):
        run_app(
            "tool",
            "collect_demos",
            ["suite=object", "tasks=no_such_task", f"out={tmp_path / 'x.hdf5'}"],
        )
