"""Visual perturbation levels: ``standard``, ``visual_noise``, ``interference``.

Each level is a gymnasium wrapper whose randomness comes from the environment's
``np_random`` after ``reset(seed=...)``, so the same seed gives the same lighting,
colours, camera pose, sensor noise and distractor motion. None of them changes
physics: distractors are visual-only mocap bodies, so task success is unaffected.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import mujoco
import numpy as np

from envs.errors import EnvConfigError
from envs.gym_env import AGENTVIEW_CAMERA, IMAGE_KEYS, LiberoLikeEnv
from envs.render import RENDER_GROUP

PERTURBATION_LEVELS: tuple[str, ...] = ("standard", "visual_noise", "interference")


@dataclass(frozen=True)
class VisualNoiseConfig:
    """Magnitudes of the visual_noise level (units in each field's name)."""

    light_scale: tuple[float, float] = (0.55, 1.35)  # multiplier on diffuse light
    light_shift_m: float = 0.5  # light position jitter
    rgba_jitter: float = 0.18  # additive colour jitter per channel (0..1 scale)
    texrepeat_scale: tuple[float, float] = (0.5, 2.0)  # material texture repeat multiplier
    camera_shift_m: float = 0.02  # agentview position jitter per axis
    camera_rot_rad: float = 0.04  # agentview rotation jitter (about a random axis)
    pixel_noise_std: float = 4.0  # Gaussian sensor noise, 8-bit intensity levels


@dataclass(frozen=True)
class InterferenceConfig:
    """Distractors of the interference level (m, m/s, control steps)."""

    appear_step_max: int = 60
    radius_m: tuple[float, float] = (0.05, 0.18)
    speed_m_s: tuple[float, float] = (0.02, 0.08)
    height_m: tuple[float, float] = (0.03, 0.12)  # above the table top


class VisualNoise(gym.Wrapper):
    """Lighting, colour/texture, camera-pose jitter per episode and sensor noise per frame."""

    def __init__(self, env: gym.Env, cfg: VisualNoiseConfig | None = None) -> None:
        super().__init__(env)
        self.cfg = cfg or VisualNoiseConfig()
        base: LiberoLikeEnv = env.unwrapped  # type: ignore[assignment]
        m = base.model
        self._m = m
        self._saved = {
            "light_diffuse": m.light_diffuse.copy(),
            "light_pos": m.light_pos.copy(),
            "geom_rgba": m.geom_rgba.copy(),
            "mat_rgba": m.mat_rgba.copy(),
            "mat_texrepeat": m.mat_texrepeat.copy(),
            "cam_pos": m.cam_pos.copy(),
            "cam_quat": m.cam_quat.copy(),
        }
        # colour-jitter what the cameras see except the robot (its colours are not scene)
        names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) or "" for b in m.geom_bodyid]
        self._scene_geoms = np.array(
            [
                g
                for g in range(m.ngeom)
                if m.geom_group[g] == RENDER_GROUP
                and not names[g].startswith(("robot0_", "gripper0_", "fixed_mount0"))
            ],
            dtype=int,
        )
        self._cam = m.camera(AGENTVIEW_CAMERA).id
        self.rng = np.random.default_rng(0)

    def _restore(self) -> None:
        for k, v in self._saved.items():
            getattr(self._m, k)[:] = v

    def _randomize(self) -> None:
        c, m, rng = self.cfg, self._m, self.rng
        self._restore()
        n_light = m.nlight
        m.light_diffuse[:] = self._saved["light_diffuse"] * rng.uniform(
            *c.light_scale, (n_light, 1)
        )
        m.light_pos[:] = (
            self._saved["light_pos"] + rng.uniform(-1, 1, (n_light, 3)) * c.light_shift_m
        )
        g = self._scene_geoms
        jitter = rng.uniform(-1, 1, (len(g), 3)) * c.rgba_jitter
        m.geom_rgba[g, :3] = np.clip(self._saved["geom_rgba"][g, :3] + jitter, 0, 1)
        if m.nmat:
            mj = rng.uniform(-1, 1, (m.nmat, 3)) * c.rgba_jitter
            m.mat_rgba[:, :3] = np.clip(self._saved["mat_rgba"][:, :3] + mj, 0, 1)
            m.mat_texrepeat[:] = self._saved["mat_texrepeat"] * rng.uniform(
                *c.texrepeat_scale, (m.nmat, 1)
            )
        m.cam_pos[self._cam] = (
            self._saved["cam_pos"][self._cam] + rng.uniform(-1, 1, 3) * c.camera_shift_m
        )
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        dq = np.zeros(4)
        mujoco.mju_axisAngle2Quat(dq, axis, rng.uniform(-1, 1) * c.camera_rot_rad)
        q = np.zeros(4)
        mujoco.mju_mulQuat(q, self._saved["cam_quat"][self._cam], dq)
        m.cam_quat[self._cam] = q

    def _noisy(self, obs: dict) -> dict:
        if self.cfg.pixel_noise_std <= 0:
            return obs
        for k in IMAGE_KEYS:
            if k in obs:
                noise = self.rng.normal(0, self.cfg.pixel_noise_std, obs[k].shape)
                obs[k] = np.clip(obs[k].astype(np.float32) + noise, 0, 255).astype(np.uint8)
        return obs

    def _episode_rng(self) -> None:
        self.rng = np.random.default_rng(self.env.unwrapped.np_random.integers(2**63))

    def reset(self, *, seed=None, options=None):
        _, info = self.env.reset(seed=seed, options=options)
        self._episode_rng()
        self._randomize()
        self._after_reset()
        return self._noisy(self.env.unwrapped.observe()), info

    def _after_reset(self) -> None:
        """Hook for subclasses that change the scene before the first frame."""

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        return self._noisy(obs), r, term, trunc, info

    def close(self) -> None:
        self._restore()
        super().close()


class Interference(VisualNoise):
    """visual_noise plus distractor objects that appear mid-episode and move over the table."""

    def __init__(
        self,
        env: gym.Env,
        cfg: VisualNoiseConfig | None = None,
        icfg: InterferenceConfig | None = None,
    ):
        super().__init__(env, cfg)
        self.icfg = icfg or InterferenceConfig()
        base: LiberoLikeEnv = env.unwrapped  # type: ignore[assignment]
        m = base.model
        self._mocap: list[int] = []
        self._geoms: list[int] = []
        i = 0
        while True:
            try:
                body = m.body(f"distractor{i}")
            except KeyError:
                break
            self._mocap.append(int(m.body_mocapid[body.id]))
            self._geoms.append(m.geom(f"distractor{i}_g").id)
            i += 1
        if not self._mocap:
            raise ValueError("interference needs an env built with n_distractors > 0")
        self._t = 0
        self._paths: list[dict] = []

    def _after_reset(self) -> None:
        c, rng = self.icfg, self.rng
        self._paths = []
        for g in self._geoms:
            self._m.geom_rgba[g, :3] = rng.uniform(0, 1, 3)
            self._paths.append(
                {
                    "appear": int(rng.integers(0, c.appear_step_max + 1)),
                    "center": rng.uniform([-0.2, -0.3], [0.2, 0.3]),
                    "radius": rng.uniform(*c.radius_m),
                    "omega": rng.uniform(*c.speed_m_s)
                    / max(c.radius_m[0], 1e-6)
                    * rng.choice([-1, 1]),
                    "phase": rng.uniform(0, 2 * np.pi),
                    "z": 0.8 + rng.uniform(*c.height_m),
                }
            )
        self._t = 0
        self._place()

    def _place(self) -> None:
        d = self.env.unwrapped.data
        dt = self.env.unwrapped.sim.control_timestep
        for mocap, p in zip(self._mocap, self._paths):
            if self._t < p["appear"]:
                d.mocap_pos[mocap] = (0, 0, -2)  # below the floor: invisible
                continue
            a = p["phase"] + p["omega"] * (self._t - p["appear"]) * dt
            d.mocap_pos[mocap] = (
                p["center"][0] + p["radius"] * np.cos(a),
                p["center"][1] + p["radius"] * np.sin(a),
                p["z"],
            )

    def step(self, action):
        self._t += 1
        self._place()
        return super().step(action)


def wrap_perturbation(env: LiberoLikeEnv, level: str) -> gym.Env:
    """Apply a named perturbation level (``standard`` returns the env unchanged)."""
    if level == "standard":
        return env
    if level == "visual_noise":
        return VisualNoise(env)
    if level == "interference":
        return Interference(env)
    raise EnvConfigError("perturbation", level, PERTURBATION_LEVELS)
