"""End-effector proportional control: the expert's only way to produce actions.

An action is 7-D in [-1, 1]: delta EE position (3), delta axis-angle rotation (3),
gripper (-1 open, +1 close), matching robosuite's OSC_POSE with delta input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from envs.experts.config import ExpertConfig
from envs.experts.errors import ExpertError
from envs.experts.geometry import orientation_error, quat_to_mat, rot_z
from envs.experts.scene import Scene

GRIPPER_OPEN = -1.0
GRIPPER_CLOSE = 1.0

# Observation key aliases: this project's suites use the short names, stock robosuite
# the robot0_ prefix; accepting both lets one expert run on either.
_KEYS = {
    "eef_pos": ("eef_pos", "robot0_eef_pos"),
    "eef_quat": ("eef_quat", "robot0_eef_quat"),
    "gripper_qpos": ("gripper_qpos", "robot0_gripper_qpos"),
}


def read_obs(obs: Mapping[str, np.ndarray], key: str) -> np.ndarray:
    """Fetch ``key`` (canonical name) from an observation dict under any known alias."""
    for alias in _KEYS[key]:
        if alias in obs:
            return np.asarray(obs[alias], dtype=float)
    raise ExpertError(
        f"observation lacks {key!r} (looked for {', '.join(_KEYS[key])}); got keys {sorted(obs)}"
    )


@dataclass
class Context:
    """Latest observation + privileged scene, and the controller's held orientation."""

    cfg: ExpertConfig
    obs: Mapping[str, np.ndarray] = field(default_factory=dict)
    scene: Scene | None = None
    yaw: float = 0.0
    """Heading (rad) of the held top-down orientation about the world z axis."""
    phase: str = "idle"
    """Name of the primitive running now (for logs and debugging)."""
    base_rot: np.ndarray = field(default_factory=lambda: np.eye(3))
    """(3, 3) robot base orientation: the controller's delta frame."""
    eef_vel: np.ndarray = field(default_factory=lambda: np.zeros(3))
    """(3,) EE displacement over the last control step (m/step), for damping."""
    _last_pos: np.ndarray | None = None

    def observe(self, obs: Mapping[str, np.ndarray], scene: Scene) -> None:
        """Take a new observation and scene; updates the EE velocity estimate."""
        self.obs = obs
        self.scene = scene
        pos = read_obs(obs, "eef_pos")
        self.eef_vel = np.zeros(3) if self._last_pos is None else pos - self._last_pos
        self._last_pos = pos.copy()

    @property
    def eef_pos(self) -> np.ndarray:
        """(3,) EE position, world frame (m)."""
        return read_obs(self.obs, "eef_pos")

    @property
    def eef_rot(self) -> np.ndarray:
        """(3, 3) EE orientation."""
        return quat_to_mat(read_obs(self.obs, "eef_quat"))

    @property
    def gripper_width(self) -> float:
        """Finger opening (m): sum of the two finger joint magnitudes."""
        q = read_obs(self.obs, "gripper_qpos")
        return float(np.sum(np.abs(q)))

    @property
    def target_rot(self) -> np.ndarray:
        """(3, 3) top-down orientation at the held yaw."""
        return rot_z(self.yaw) @ quat_to_mat(np.asarray(self.cfg.top_down_quat, dtype=float))

    def current_yaw(self) -> float:
        """Heading (rad) of the EE's x axis in the world xy plane."""
        down = quat_to_mat(np.asarray(self.cfg.top_down_quat, dtype=float))
        # Undo the top-down reference so yaw 0 means "as top_down_quat".
        rel = self.eef_rot @ down.T
        return float(np.arctan2(rel[1, 0], rel[0, 0]))

    def action(self, pos_err: np.ndarray, gripper: float, speed: float) -> np.ndarray:
        """7-D action driving ``pos_err`` (m, world frame) to zero and holding orientation.

        Args:
            pos_err: target minus current EE position (m).
            gripper: -1 open, +1 close.
            speed: cap (action units, <= 1) on each position component.
        """
        base_t = self.base_rot.T
        # PD in EE space: the damping term stops overshoot on long moves, which near the
        # edge of the workspace can drive the arm into its stretched-elbow singularity.
        command = self.cfg.pos_gain * pos_err - self.cfg.vel_damping * self.eef_vel
        pos = np.clip(base_t @ command, -speed, speed)
        rot_err = base_t @ orientation_error(self.target_rot, self.eef_rot)
        rot = np.clip(self.cfg.rot_gain * rot_err, -1.0, 1.0)
        return np.concatenate([pos, rot, [gripper]]).astype(np.float64)
