"""The gymnasium environment of one LIBERO task rebuilt on our stack.

Same contract as today's ``LiberoLikeEnv`` (it is a subclass and inherits ``reset``,
``step``, ``observe``, ``render`` and ``close``): Panda, OSC_POSE at 20 Hz, 7-D actions in
[-1, 1], the 5-tuple step API, observation keys ``agentview_rgb``, ``wrist_rgb`` and the
proprioceptive vectors. What differs: the scene comes from a BDDL file, the instruction
is LIBERO's benchmark language, success is LIBERO's goal, and init states are LIBERO's
mapped ones (``envs.libero.init_states``).
"""

from __future__ import annotations

import mujoco
import numpy as np
from gymnasium import spaces

from envs.errors import EnvConfigError
from envs.gym_env import _VEC_KEYS, IMAGE_KEYS, LiberoLikeEnv
from envs.libero.init_states import InitStates
from envs.libero.predicates import LiberoQuery, LiberoTolerances, goal_status
from envs.libero.scene import LiberoScene
from envs.libero.sim import LiberoSimEnv
from envs.render import RENDER_OPTIONS, ROBOT_VISUALS, CameraRenderer, use_cheap_robot_visuals


class LiberoEnv(LiberoLikeEnv):
    """One LIBERO task (BDDL scene) as a gymnasium env.

    Args:
        scene: from ``envs.libero.scene.load_scene``.
        episode_limit: control steps before ``truncated``.
        image_size: camera height = width (px).
        render: False drops the image keys.
        robot_visuals, render_mode, render_options, seed: as ``LiberoLikeEnv``.
        tolerances: predicate margins (m).
    """

    def __init__(
        self,
        scene: LiberoScene,
        episode_limit: int,
        *,
        image_size: int = 128,
        render: bool = True,
        robot_visuals: str = "collision",
        render_mode: str | None = "rgb_array",
        tolerances: LiberoTolerances | None = None,
        seed: int | None = None,
        render_options: dict | None = None,
    ) -> None:
        if robot_visuals not in ROBOT_VISUALS:
            raise EnvConfigError("robot_visuals", robot_visuals, ROBOT_VISUALS)
        if render_mode not in (None, "rgb_array"):
            raise EnvConfigError("render_mode", render_mode, [None, "rgb_array"])
        self._render_options = dict(render_options or {})
        unknown = set(self._render_options) - set(RENDER_OPTIONS)
        if unknown:
            raise EnvConfigError("render_options", sorted(unknown), RENDER_OPTIONS)
        self.scene = scene
        self.task = scene  # LiberoLikeEnv's methods read task.gym_id / task.language
        self.language = scene.language
        self.episode_limit = episode_limit
        self.image_size = image_size
        self.render_images = render
        self.render_mode = render_mode
        self.libero_tolerances = tolerances or LiberoTolerances()
        self.sim = LiberoSimEnv(scene)
        self.model: mujoco.MjModel = self.sim.sim.model._model
        self.data: mujoco.MjData = self.sim.sim.data._data
        self.libero_query = LiberoQuery(self.model, self.data, scene)
        if robot_visuals == "collision":
            use_cheap_robot_visuals(self.model)
        self._renderer: CameraRenderer | None = None
        if render:
            self._renderer = CameraRenderer(
                self.model, self.data, image_size, **self._render_options
            )
        self.sim.reset()
        self._home = self.data.qpos.copy()
        self._init_states = InitStates(
            self.model, self._home, scene, self.sim.robot_qpos_idx, self.sim.robot_qvel_idx
        )
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

    @property
    def init_state_source(self) -> str:
        """``"libero"`` (LIBERO's 50 states mapped) or ``"sampled"`` (ours, same regions)."""
        return self._init_states.source

    def goal_status(self) -> dict[str, bool]:
        return goal_status(self.libero_query, self.libero_tolerances)

    def privileged_state(self) -> dict:
        """PRIVILEGED state for scripted experts: world frame, m, quats wxyz."""
        q = self.libero_query
        objects = {}
        for o in self.scene.objects:
            lo, hi = q.aabb(o.name)
            objects[o.name] = {
                "kind": o.kind,
                "pos": q.pos(o.name),
                "quat": self.data.xquat[q.body[o.name]].copy(),
                "center": (lo + hi) / 2,
                "half_size": (hi - lo) / 2,
                "top_z": float(hi[2]),
                "bottom_z": float(lo[2]),
                "container": o.asset.container,
            }
        s = self.sim
        return {
            "objects": objects,
            "eef_pos": self.data.site_xpos[s.eef_site_id].copy(),
            "eef_quat": self.data.xquat[s.eef_body_id].copy(),
            "goal": self.goal_status(),
        }
