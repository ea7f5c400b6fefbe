"""LIBERO's observation-key names beside ours, and the conversions between them.

LIBERO's demo HDF5 files (``scripts/create_dataset.py``, robomimic layout) name their obs
datasets ``agentview_rgb``, ``eye_in_hand_rgb``, ``ee_pos``, ``ee_ori`` (axis-angle, 3),
``ee_states`` (``ee_pos`` then ``ee_ori``, 6), ``gripper_states`` (the two finger joints) and
``joint_states`` (7 arm joints). Ours are the env's keys (``envs.gym_env``): ``wrist_rgb``,
``eef_pos``, ``eef_quat`` (xyzw), ``gripper_qpos``, ``joint_pos``. Same quantities, other names,
except the orientation: LIBERO stores an axis-angle, we store a quaternion.

``collect_demos`` writes both: LIBERO's names are HDF5 soft links to ours (no data copied),
``ee_ori``/``ee_states`` are small computed datasets. ``agents.data`` reads either naming.
"""

from __future__ import annotations

import numpy as np

#: our obs key -> LIBERO's name for the same array
LIBERO_NAME: dict[str, str] = {
    "agentview_rgb": "agentview_rgb",
    "wrist_rgb": "eye_in_hand_rgb",
    "eef_pos": "ee_pos",
    "gripper_qpos": "gripper_states",
    "joint_pos": "joint_states",
}
#: LIBERO's name -> ours
OUR_NAME: dict[str, str] = {v: k for k, v in LIBERO_NAME.items()}
#: LIBERO's keys we compute (not links): orientation as axis-angle, pose as pos + axis-angle
LIBERO_DERIVED: tuple[str, ...] = ("ee_ori", "ee_states")


def quat_xyzw_to_axisangle(q: np.ndarray) -> np.ndarray:
    """[..., 4] quaternions (x, y, z, w) -> [..., 3] axis * angle (rad), robosuite's convention.

    As ``robosuite.utils.transform_utils.quat2axisangle`` (what LIBERO's ``ee_ori`` holds):
    angle = 2 acos(w) in [0, 2 pi], a zero vector when the rotation is (near) the identity.
    """
    q = np.asarray(q, dtype=np.float64)
    w = np.clip(q[..., 3], -1.0, 1.0)
    den = np.sqrt(1.0 - w * w)
    angle = 2.0 * np.arccos(w)
    safe = np.where(den > 1e-8, den, 1.0)
    return np.where((den > 1e-8)[..., None], q[..., :3] * (angle / safe)[..., None], 0.0)


def axisangle_to_quat_xyzw(aa: np.ndarray) -> np.ndarray:
    """[..., 3] axis * angle (rad) -> [..., 4] quaternions (x, y, z, w).

    The inverse of ``quat_xyzw_to_axisangle`` (sign included: w = cos(angle / 2) keeps the sign
    the forward map read), so ``eef_quat`` rebuilt from a LIBERO file is the one recorded.
    """
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1)
    safe = np.where(angle > 1e-12, angle, 1.0)
    axis = aa / safe[..., None]
    xyz = np.where((angle > 1e-12)[..., None], axis * np.sin(angle / 2.0)[..., None], 0.0)
    return np.concatenate([xyz, np.cos(angle / 2.0)[..., None]], axis=-1)
