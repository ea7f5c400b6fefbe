"""The gymnasium environment: observations, success, limits and init states of one task."""

from __future__ import annotations

import logging
from typing import ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from envs.errors import EnvConfigError
from envs.init_states import check_index, load_init_states, model_signature
from envs.predicates import PredicateTolerances, goal_status
from envs.privileged import privileged_state
from envs.render import RENDER_OPTIONS, ROBOT_VISUALS, CameraRenderer, use_cheap_robot_visuals
from envs.scene import SceneQuery
from envs.sim_env import TaskSimEnv
from envs.spec import TaskSpec

log = logging.getLogger(__name__)

AGENTVIEW_CAMERA = "agentview"
WRIST_CAMERA = "robot0_eye_in_hand"
IMAGE_KEYS = ("agentview_rgb", "wrist_rgb")
_VEC_KEYS = {
    "eef_pos": 3,
    "eef_quat": 4,
    "gripper_qpos": 2,
    "gripper_qvel": 2,
    "joint_pos": 7,
    "joint_vel": 7,
    "joint_acc": 7,
    "joint_torque": 7,
}


def _quat_wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    return np.array([q[1], q[2], q[3], q[0]])


class LiberoLikeEnv(gym.Env):
    """One LIBERO-like task: Panda, OSC_POSE at 20 Hz, 7-D actions in [-1, 1].

    Args:
        task: the task spec.
        episode_limit: control steps before ``truncated`` (suite default from envs.episode_limit).
        image_size: camera height = width (px).
        render: when False no camera is rendered and image keys are absent.
        robot_visuals: "collision" (fast low-poly robot) or "mesh" (robosuite's visual meshes).
        n_distractors: mocap distractor bodies compiled in (used by the interference level).
        init_states: override the stored states ([N, nq+nv] float64), e.g. freshly sampled.
        render_options: CameraRenderer levers (shadows, reflections, multisample, skybox, slices).
    """

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        task: TaskSpec,
        episode_limit: int,
        *,
        image_size: int = 128,
        render: bool = True,
        robot_visuals: str = "collision",
        n_distractors: int = 0,
        render_mode: str | None = "rgb_array",
        init_states: np.ndarray | None = None,
        tolerances: PredicateTolerances | None = None,
        seed: int | None = None,
        render_options: dict | None = None,
    ) -> None:
        if robot_visuals not in ROBOT_VISUALS:
            raise EnvConfigError("robot_visuals", robot_visuals, ROBOT_VISUALS)
        if render_mode not in (None, "rgb_array"):
            raise EnvConfigError("render_mode", render_mode, [None, "rgb_array"])
        self.task = task
        self.language = task.language
        self.episode_limit = episode_limit
        self.image_size = image_size
        self.render_images = render
        self.render_mode = render_mode
        self.tolerances = tolerances or PredicateTolerances()
        self.sim = TaskSimEnv(task, n_distractors=n_distractors)
        self.model: mujoco.MjModel = self.sim.sim.model._model
        self.data: mujoco.MjData = self.sim.sim.data._data
        self.query = SceneQuery(self.model, self.data, task, self.sim.object_body_ids)
        if robot_visuals == "collision":
            use_cheap_robot_visuals(self.model)
        self._renderer: CameraRenderer | None = None
        self._render_options = dict(render_options or {})
        unknown = set(self._render_options) - set(RENDER_OPTIONS)
        if unknown:
            raise EnvConfigError("render_options", sorted(unknown), RENDER_OPTIONS)
        if render:
            self._renderer = CameraRenderer(
                self.model, self.data, image_size, **self._render_options
            )
        self._init_states = (
            init_states
            if init_states is not None
            else load_init_states(task, model_signature(self.sim))
        )
        self.sim.reset()
        self._home = self.data.qpos.copy()
        self._steps = 0
        self._init_index = 0
        self._pending_seed = seed

        obs_spaces: dict[str, spaces.Space] = {}
        if render:
            for k in IMAGE_KEYS:
                obs_spaces[k] = spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
        for k, n in _VEC_KEYS.items():
            obs_spaces[k] = spaces.Box(-np.inf, np.inf, (n,), np.float32)
        self.observation_space = spaces.Dict(obs_spaces)
        self.action_space = spaces.Box(-1.0, 1.0, (7,), np.float32)

    # --- gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None and self._pending_seed is not None:
            seed = self._pending_seed
        self._pending_seed = None
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"init_state"}
        if unknown:
            raise EnvConfigError("options", sorted(unknown), ["init_state"])
        idx = check_index(options.get("init_state", 0), len(self._init_states))
        self.set_init_state(idx)
        return self.observe(), self._info()

    def set_init_state(self, index: int) -> None:
        """Put the simulator in stored init state ``index`` (robot home, controllers reset)."""
        self.sim.reset()
        mujoco.mj_resetData(self.model, self.data)
        state = self._init_states[index]
        nq = self.model.nq
        self.data.qpos[:] = state[:nq]
        self.data.qvel[:] = state[nq:]
        mujoco.mj_forward(self.model, self.data)
        self.sim.clear_history()
        self._steps = 0
        self._init_index = index

    def step(self, action):
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (7,) or not np.all(np.isfinite(a)):
            raise EnvConfigError("action", action, "a finite 7-vector in [-1, 1]")
        self.sim.step(np.clip(a, -1.0, 1.0))
        self._steps += 1
        obs = self.observe()
        info = self._info()
        terminated = bool(info["is_success"])
        truncated = self._steps >= self.episode_limit and not terminated
        return obs, float(terminated), terminated, truncated, info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = CameraRenderer(
                self.model, self.data, self.image_size, **self._render_options
            )
        return self._renderer.render(AGENTVIEW_CAMERA)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.sim.close()

    # --- observations --------------------------------------------------------------------------
    def observe(self) -> dict[str, np.ndarray]:
        """The observation dict of the current state (renders the cameras)."""
        d, s = self.data, self.sim
        obs: dict[str, np.ndarray] = {}
        if self._renderer is not None:
            obs["agentview_rgb"] = self._renderer.render(AGENTVIEW_CAMERA)
            obs["wrist_rgb"] = self._renderer.render(WRIST_CAMERA)
        f = np.float32
        obs["eef_pos"] = d.site_xpos[s.eef_site_id].astype(f)
        obs["eef_quat"] = _quat_wxyz_to_xyzw(d.xquat[s.eef_body_id]).astype(f)
        obs["gripper_qpos"] = d.qpos[s.gripper_qpos_idx].astype(f)
        obs["gripper_qvel"] = d.qvel[s.gripper_qvel_idx].astype(f)
        obs["joint_pos"] = d.qpos[s.arm_qpos_idx].astype(f)
        obs["joint_vel"] = d.qvel[s.arm_qvel_idx].astype(f)
        obs["joint_acc"] = d.qacc[s.arm_qvel_idx].astype(f)
        obs["joint_torque"] = d.qfrc_actuator[s.arm_qvel_idx].astype(f)
        return obs

    def goal_status(self) -> dict[str, bool]:
        """Each goal predicate of the task and whether it holds now."""
        return goal_status(self.query, self.task, self.tolerances)

    def is_success(self) -> bool:
        return all(self.goal_status().values())

    def _info(self) -> dict:
        return {
            "is_success": self.is_success(),
            "joint_vel_history": self.sim.joint_vel_history,
            "joint_torque_history": self.sim.joint_torque_history,
            "sim_time": float(self.data.time),
            "language": self.task.language,
            "task_id": self.task.gym_id,
            "init_state": self._init_index,
        }

    # --- privileged access (scripted experts, debugging) ------------------------------------
    @property
    def num_init_states(self) -> int:
        return len(self._init_states)

    def privileged_state(self) -> dict:
        """PRIVILEGED simulator state for scripted experts; see docs/envs.md. World frame, m.

        Quaternions are wxyz (MuJoCo order) here, unlike the xyzw ``eef_quat`` observation.
        """
        return privileged_state(self)
