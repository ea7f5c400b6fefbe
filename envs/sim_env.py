"""robosuite ManipulationEnv that builds a scene from a TaskSpec (Panda, OSC_POSE, 20 Hz).

This is the physics half of an environment: model construction, the control loop
with a 500 Hz record of joint velocity and torque, and raw state access. Cameras,
observation dicts and the gymnasium API live in ``envs.gym_env``.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco
import numpy as np
from robosuite.controllers import load_composite_controller_config
from robosuite.environments.manipulation.manipulation_env import ManipulationEnv
from robosuite.models.arenas import TableArena
from robosuite.models.tasks import ManipulationTask

from envs.catalog import (
    TABLE_TOP_Z,
    build_distractor_xml,
    build_fixture_xml,
    build_object_xml,
    fixture_contact_excludes,
)
from envs.spec import TaskSpec

#: table size (x depth, y width, thickness), m
TABLE_FULL_SIZE = (0.8, 1.0, 0.05)


class TaskSimEnv(ManipulationEnv):
    """Panda at a table with the objects and fixtures of one TaskSpec.

    Args:
        task: the task declaration.
        control_freq: policy rate (Hz); the model timestep is 2 ms, so 20 Hz gives 25
            physics substeps per control step.
        n_distractors: visual-only mocap bodies added for the ``interference`` level.
    """

    def __init__(self, task: TaskSpec, control_freq: int = 20, n_distractors: int = 0) -> None:
        self.task = task
        self.n_distractors = n_distractors
        self._rs_objects: dict[str, object] = {}
        super().__init__(
            robots="Panda",
            controller_configs=load_composite_controller_config(robot="Panda"),
            gripper_types="default",
            initialization_noise=None,
            use_camera_obs=False,
            has_renderer=False,
            has_offscreen_renderer=False,
            control_freq=control_freq,
            horizon=10**9,  # episode limits are enforced by the gymnasium layer
            ignore_done=True,
            hard_reset=False,
            camera_names=[],
        )
        n_sub = round(self.control_timestep / self.model_timestep)
        self._vel_hist = np.zeros((n_sub, 7), dtype=np.float32)
        self._tau_hist = np.zeros((n_sub, 7), dtype=np.float32)

    # --- model -------------------------------------------------------------------------
    def _load_model(self) -> None:
        super()._load_model()
        robot = self.robots[0]
        robot.robot_model.set_base_xpos(
            robot.robot_model.base_xpos_offset["table"](TABLE_FULL_SIZE[0])
        )
        arena = TableArena(table_full_size=TABLE_FULL_SIZE, table_offset=(0, 0, TABLE_TOP_Z))
        arena.set_origin([0, 0, 0])
        extra = []
        rs_objects = []
        for o in self.task.objects:
            rs_obj, elem = build_object_xml(o.name, o.kind, o.rgba)
            if rs_obj is not None:
                rs_objects.append(rs_obj)
                self._rs_objects[o.name] = rs_obj
            else:
                extra.append(elem)
        for f in self.task.fixtures:
            extra.append(build_fixture_xml(f.name, f.kind, f.pos, f.yaw))
        for i in range(self.n_distractors):
            extra.append(build_distractor_xml(i))
        self.model = ManipulationTask(
            mujoco_arena=arena,
            mujoco_robots=[robot.robot_model],
            mujoco_objects=rs_objects or None,
        )
        for elem in extra:
            self.model.worldbody.append(elem)
        for f in self.task.fixtures:
            for exclude in fixture_contact_excludes(f.name, f.kind):
                self.model.contact.append(exclude)

    def _setup_references(self) -> None:
        super()._setup_references()
        m = self.sim.model._model
        robot = self.robots[0]
        self.arm_qpos_idx = np.array(robot._ref_joint_pos_indexes)
        self.arm_qvel_idx = np.array(robot._ref_joint_vel_indexes)
        self.gripper_qpos_idx = np.array(robot._ref_gripper_joint_pos_indexes["right"])
        self.gripper_qvel_idx = np.array(robot._ref_gripper_joint_vel_indexes["right"])
        self.eef_site_id = robot.eef_site_id["right"]
        self.eef_body_id = m.body(robot.robot_model.eef_name["right"]).id
        # qpos addresses that belong to the robot (pinned while init states settle)
        self.robot_qpos_idx = np.concatenate([self.arm_qpos_idx, self.gripper_qpos_idx])
        self.robot_qvel_idx = np.concatenate([self.arm_qvel_idx, self.gripper_qvel_idx])
        self.object_body_ids = {o.name: self.root_body_id(o.name) for o in self.task.objects}

    def root_body_id(self, name: str) -> int:
        """MuJoCo body id of an object's or fixture's root body."""
        rs = self._rs_objects.get(name)
        body = rs.root_body if rs is not None else f"{name}_main"
        return self.sim.model._model.body(body).id

    def free_joint_name(self, name: str) -> str:
        rs = self._rs_objects.get(name)
        return rs.joints[0] if rs is not None else f"{name}_joint0"

    # --- control loop --------------------------------------------------------------------
    def step(self, action: np.ndarray):  # type: ignore[override]
        """Advance one control step (no robosuite observation dict is built: it is unused)."""
        self.timestep += 1
        policy_step = True
        d = self.sim.data._data
        n_sub = self._vel_hist.shape[0]
        for i in range(n_sub):
            if self.lite_physics:
                self.sim.step1()
            else:
                self.sim.forward()
            self._pre_action(action, policy_step)
            if self.lite_physics:
                self.sim.step2()
            else:
                self.sim.step()
            self._vel_hist[i] = d.qvel[self.arm_qvel_idx]
            self._tau_hist[i] = d.qfrc_actuator[self.arm_qvel_idx]
            policy_step = False
        self.cur_time += self.control_timestep
        # step2 leaves derived quantities (site poses) one substep stale; refresh for observers
        mujoco.mj_forward(self.sim.model._model, d)

    @property
    def joint_vel_history(self) -> np.ndarray:
        """Joint velocity (rad/s) at every physics substep of the last control step, [25, 7]."""
        return self._vel_hist.copy()

    @property
    def joint_torque_history(self) -> np.ndarray:
        """Applied actuator joint torque (N m) at every physics substep, [25, 7]."""
        return self._tau_hist.copy()

    def clear_history(self) -> None:
        self._vel_hist[:] = 0
        self._tau_hist[:] = 0

    # --- robosuite hooks that must exist ---------------------------------------------------
    def reward(self, action=None) -> float:
        return 0.0

    def _check_success(self) -> bool:
        return False
