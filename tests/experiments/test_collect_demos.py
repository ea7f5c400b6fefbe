"""collect_demos writes the robomimic/LIBERO HDF5 layout (real env, real expert, tiny run),
LIBERO's obs names included."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from agents.data import load_demos
from agents.libero_keys import axisangle_to_quat_xyzw
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
        assert env_args["type"] == 1  # robomimic's EnvType.ROBOSUITE_TYPE
        assert env_args["env_name"] == data.attrs["env_name"] == "LiberoLike"
        assert env_args["env_kwargs"]["suite"] == "object"
        assert env_args["env_kwargs"]["image_size"] == 32
        assert env_args["env_kwargs"]["gym_ids"] == ["LiberoLike/object-milk_in_basket-v0"]
        assert data.attrs["macros_image_convention"] == "opencv"
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
            # LIBERO's names: soft links that survived the shard merge's copy, no data copied
            for libero, ours in (
                ("eye_in_hand_rgb", "wrist_rgb"),
                ("ee_pos", "eef_pos"),
                ("gripper_states", "gripper_qpos"),
                ("joint_states", "joint_pos"),
            ):
                link = obs.get(libero, getlink=True)
                assert isinstance(link, h5py.SoftLink), libero
                assert link.path == ours
                np.testing.assert_array_equal(obs[libero][()], obs[ours][()])
            assert obs["ee_ori"].shape == (t, 3)
            np.testing.assert_array_equal(obs["ee_states"][:, :3], obs["eef_pos"][()])
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
    # read under LIBERO's names; the orientation round-trips through the axis-angle
    libero = load_demos(out, ("agentview_rgb", "eye_in_hand_rgb"), ("ee_pos", "ee_ori"), 32)
    ours = load_demos(out, ("agentview_rgb", "wrist_rgb"), ("eef_pos", "eef_quat"), 32)
    np.testing.assert_array_equal(libero.images, ours.images)
    np.testing.assert_allclose(
        axisangle_to_quat_xyzw(libero.proprio[:, 3:]), ours.proprio[:, 3:], atol=1e-5
    )
    # shards are merged and removed
    assert [p.name for p in tmp_path.iterdir()] == ["demos.hdf5"]


def test_collect_demos_rejects_unknown_task(tmp_path) -> None:
    with pytest.raises(ValueError, match="no_such_task"):
        run_app(
            "tool",
            "collect_demos",
            ["suite=object", "tasks=no_such_task", f"out={tmp_path / 'x.hdf5'}"],
        )
