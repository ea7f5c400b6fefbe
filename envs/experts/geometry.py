"""Small rotation helpers (numpy only).

Quaternions follow robosuite's observation convention: ``(x, y, z, w)``.
Angles are in radians, rotation vectors are axis * angle (rad).
"""

from __future__ import annotations

import numpy as np


def quat_to_mat(quat_xyzw: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of a unit quaternion ``(x, y, z, w)``."""
    x, y, z, w = np.asarray(quat_xyzw, dtype=float) / np.linalg.norm(quat_xyzw)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def rot_z(angle: float) -> np.ndarray:
    """Rotation matrix about the world z axis by ``angle`` (rad)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def mat_to_rotvec(mat: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, rad) of a rotation matrix; angle in [0, pi]."""
    cos_angle = np.clip((np.trace(mat) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.arccos(cos_angle))
    if angle < 1e-6:
        return np.zeros(3)
    if np.pi - angle < 1e-4:
        # Near pi the antisymmetric part vanishes; take the axis from the symmetric part.
        sym = (mat + np.eye(3)) / 2.0
        axis = np.sqrt(np.clip(np.diag(sym), 0.0, None))
        k = int(np.argmax(axis))
        axis = sym[k] / max(axis[k], 1e-9)
        return axis / np.linalg.norm(axis) * angle
    axis = np.array([mat[2, 1] - mat[1, 2], mat[0, 2] - mat[2, 0], mat[1, 0] - mat[0, 1]])
    return axis / (2.0 * np.sin(angle)) * angle


def orientation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """World-frame rotation vector (rad) that turns ``current`` into ``target`` (both 3x3)."""
    return mat_to_rotvec(target @ current.T)


def yaw_of(mat: np.ndarray, axis: int = 0) -> float:
    """Heading (rad) of a body axis (0=x, 1=y) projected onto the world xy plane."""
    v = mat[:, axis]
    return float(np.arctan2(v[1], v[0]))


def wrap_angle(angle: float, period: float = 2 * np.pi) -> float:
    """Wrap ``angle`` (rad) into ``[-period/2, period/2)``."""
    return float((angle + period / 2.0) % period - period / 2.0)
