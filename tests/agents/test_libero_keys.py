"""LIBERO's obs names: a file written with only LIBERO's keys loads as ours does."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from agents.data import load_demos
from agents.errors import DatasetError
from agents.libero_keys import axisangle_to_quat_xyzw, quat_xyzw_to_axisangle

CAMS = ("agentview_rgb", "wrist_rgb")
PROPRIO = ("eef_pos", "eef_quat", "gripper_qpos")


def _quats(n: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)  # both signs of w


def test_axis_angle_matches_robosuite_and_inverts() -> None:
    tu = pytest.importorskip("robosuite.utils.transform_utils")
    q = _quats(200)
    aa = quat_xyzw_to_axisangle(q)
    want = np.stack([tu.quat2axisangle(x) for x in q])
    np.testing.assert_allclose(aa, want, atol=1e-9)
    np.testing.assert_allclose(axisangle_to_quat_xyzw(aa), q, atol=1e-9)
    ident = np.array([[0.0, 0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(quat_xyzw_to_axisangle(ident), [[0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(axisangle_to_quat_xyzw(np.zeros((1, 3))), ident)


def _write(path, libero: bool, lens=(4, 6)) -> None:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_group("data")
        if libero:
            f["data"].attrs["macros_image_convention"] = "opengl"  # LIBERO: rows bottom-up
        for i, t in enumerate(lens):
            g = f.create_group(f"data/demo_{i}")
            g.attrs["language"] = "pick up the milk"
            front = rng.integers(0, 256, (t, 16, 16, 3), dtype=np.uint8)
            wrist = rng.integers(0, 256, (t, 16, 16, 3), dtype=np.uint8)
            pos = rng.normal(size=(t, 3)).astype(np.float32)
            quat = _quats(t, seed=i).astype(np.float32)
            grip = rng.normal(size=(t, 2)).astype(np.float32)
            if libero:
                g["obs/agentview_rgb"] = front[:, ::-1]
                g["obs/eye_in_hand_rgb"] = wrist[:, ::-1]
                g["obs/ee_pos"] = pos
                g["obs/ee_ori"] = quat_xyzw_to_axisangle(quat)
                g["obs/gripper_states"] = grip
            else:
                g["obs/agentview_rgb"] = front
                g["obs/wrist_rgb"] = wrist
                g["obs/eef_pos"] = pos
                g["obs/eef_quat"] = quat
                g["obs/gripper_qpos"] = grip
            g["actions"] = rng.uniform(-1, 1, (t, 7)).astype(np.float32)


def test_libero_named_file_loads_as_ours(tmp_path) -> None:
    ours, libero = tmp_path / "ours.hdf5", tmp_path / "libero.hdf5"
    _write(ours, libero=False)
    _write(libero, libero=True)
    a = load_demos(ours, CAMS, PROPRIO, 16)
    b = load_demos(libero, CAMS, PROPRIO, 16)
    np.testing.assert_array_equal(a.images, b.images)  # flipped back to top-down rows
    np.testing.assert_allclose(a.proprio, b.proprio, atol=1e-6)  # quaternion via axis-angle
    np.testing.assert_array_equal(a.actions, b.actions)
    # and LIBERO's names read from our file (ee_ori computed from eef_quat)
    c = load_demos(ours, ("agentview_rgb", "eye_in_hand_rgb"), ("ee_pos", "ee_ori"), 16)
    np.testing.assert_array_equal(c.images, a.images)
    np.testing.assert_allclose(c.proprio[:, 3:], _ori(libero), atol=1e-6)


def _ori(path) -> np.ndarray:
    with h5py.File(path) as f:
        return np.concatenate([f[f"data/demo_{i}/obs/ee_ori"][()] for i in (0, 1)])


def test_missing_key_names_both_spellings(tmp_path) -> None:
    path = tmp_path / "d.hdf5"
    _write(path, libero=False)
    with pytest.raises(DatasetError, match=r"looked for \['joint_pos', 'joint_states'\]"):
        load_demos(path, CAMS, ("joint_pos",), 16)
