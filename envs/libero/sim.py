"""The physics of a LIBERO scene: ``envs.sim_env.TaskSimEnv`` with our LIBERO asset library.

Same robot, controller, 20 Hz control loop and 500 Hz joint history as today's suites; only
the model differs: a table standing in for LIBERO's workspace, the robot at LIBERO's
distance and home pose, LIBERO's agentview camera, and the objects of the BDDL problem.
"""

from __future__ import annotations

import numpy as np
from robosuite.models.arenas import TableArena
from robosuite.models.tasks import ManipulationTask

from envs.catalog import TABLE_TOP_Z, build_distractor_xml
from envs.libero.assets import build_object_body
from envs.libero.fixtures import build_fixture_body, fixture_excludes
from envs.libero.scene import CAMERAS, LIBERO_HOME_QPOS, LiberoScene
from envs.sim_env import TaskSimEnv


class LiberoSimEnv(TaskSimEnv):
    """Panda, OSC_POSE at 20 Hz, in the scene of one BDDL problem."""

    def __init__(self, scene: LiberoScene, control_freq: int = 20, n_distractors: int = 0):
        self.scene = scene
        super().__init__(scene, control_freq=control_freq, n_distractors=n_distractors)  # type: ignore[arg-type]

    def _load_model(self) -> None:
        # ManipulationEnv's own model loading (robots), skipping TaskSimEnv's catalog scene
        super(TaskSimEnv, self)._load_model()
        sc = self.scene
        robot = self.robots[0]
        robot.init_qpos = np.array(LIBERO_HOME_QPOS)
        base = list(robot.robot_model.base_xpos_offset["table"](sc.table_full_size[0]))
        base[0] = sc.robot_x  # LIBERO's distance from the workspace origin
        robot.robot_model.set_base_xpos(base)
        arena = TableArena(table_full_size=sc.table_full_size, table_offset=(0, 0, TABLE_TOP_Z))
        arena.set_origin([0, 0, 0])
        pos, quat = CAMERAS[sc.workspace]
        arena.set_camera(
            camera_name="agentview", pos=[pos[0], pos[1], pos[2] + TABLE_TOP_Z], quat=list(quat)
        )
        self.model = ManipulationTask(mujoco_arena=arena, mujoco_robots=[robot.robot_model])
        for o in sc.objects:
            self.model.worldbody.append(build_object_body(o.name, o.asset))
        for f in sc.fixtures:
            pos = (f.pos[0], f.pos[1], TABLE_TOP_Z)
            self.model.worldbody.append(build_fixture_body(f.name, f.asset, pos, f.yaw))
            for exclude in fixture_excludes(f.name, f.asset):
                self.model.contact.append(exclude)
        for i in range(self.n_distractors):
            self.model.worldbody.append(build_distractor_xml(i))
