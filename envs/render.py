"""Fast offscreen camera rendering on the simulator's own MjModel/MjData.

robosuite's renderer draws the Panda's ~168k-triangle visual meshes with multisampling
and reflections; on software EGL that costs ~30 ms per 128 px frame. Here the levers
are parameters: multisampling off, reflection/shadow flags off, and ``robot_visuals=
"collision"`` draws the robot with its low-polygon collision meshes (recoloured)
instead of the visual meshes. Frames are upright uint8 HxWx3.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import atexit
import weakref

import mujoco
import numpy as np

from envs.errors import EnvConfigError

ROBOT_VISUALS = ("collision", "mesh")
RENDER_OPTIONS = ("shadows", "reflections", "multisample", "skybox", "slices")
#: geom group the cameras render; hidden geoms are moved to HIDDEN_GROUP
RENDER_GROUP = 1
HIDDEN_GROUP = 4
_ROBOT_PREFIXES = ("robot0_", "gripper0_", "fixed_mount0_")
# GL contexts must be freed before EGL is torn down at interpreter exit
_LIVE: weakref.WeakSet = weakref.WeakSet()
_ATEXIT_REGISTERED = False


def _close_all() -> None:
    for r in list(_LIVE):
        r.close()


def use_cheap_robot_visuals(model: mujoco.MjModel) -> int:
    """Hide the robot's visual meshes and draw its collision geoms instead.

    Only geom_group/geom_rgba change, which physics never reads. Returns the number of
    triangles taken off each frame.
    """
    saved = 0
    for g in range(model.ngeom):
        body = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, model.geom_bodyid[g]) or ""
        if not body.startswith(_ROBOT_PREFIXES):
            continue
        is_mesh = model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH
        tris = int(model.mesh_facenum[model.geom_dataid[g]]) if is_mesh else 0
        if model.geom_group[g] == 1:
            model.geom_group[g] = HIDDEN_GROUP
            saved += tris
        elif model.geom_group[g] == 0:
            model.geom_group[g] = RENDER_GROUP
            saved -= tris
            finger = "finger" in body
            model.geom_rgba[g] = (
                (0.25, 0.25, 0.27, 1)
                if finger or body.startswith("fixed")
                else (0.92, 0.92, 0.92, 1)
            )
    return saved


class CameraRenderer:
    """Renders named cameras at ``size`` x ``size`` pixels.

    Args:
        model, data: the live simulator structures (shared, not copied).
        size: image height and width (px).
        shadows, reflections, multisample, skybox: rendering quality levers (off = faster;
            the arena's walls hide the skybox from both cameras anyway).
        slices: tessellation of cylinders/spheres (MuJoCo default 28; fewer = faster).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        data: mujoco.MjData,
        size: int,
        *,
        shadows: bool = False,
        reflections: bool = False,
        multisample: bool = False,
        skybox: bool = False,
        slices: int = 12,
    ) -> None:
        if size <= 0:
            raise EnvConfigError("image_size", size, "a positive integer (pixels)")
        self.model, self.data, self.size = model, data, size
        if isinstance(slices, bool) or not isinstance(slices, int) or slices < 4:
            raise EnvConfigError("render_options['slices']", slices, "an integer >= 4")
        # these must be set before the GL context is created
        if not multisample:
            model.vis.quality.offsamples = 0
        model.vis.quality.numslices = slices
        model.vis.quality.numstacks = max(4, slices // 2)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, size)
        model.vis.global_.offheight = max(model.vis.global_.offheight, size)
        self._renderer = mujoco.Renderer(model, size, size)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(shadows)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = int(reflections)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = int(skybox)
        self.option = mujoco.MjvOption()
        self.option.geomgroup[:] = 0
        self.option.geomgroup[RENDER_GROUP] = 1
        self._cam_ids: dict[str, int] = {}
        self._closed = False
        _LIVE.add(self)
        global _ATEXIT_REGISTERED
        if not _ATEXIT_REGISTERED:
            # registered after mujoco.egl's own exit hook, so it runs before EGL terminates
            atexit.register(_close_all)
            _ATEXIT_REGISTERED = True

    def render(self, camera: str) -> np.ndarray:
        """One upright RGB frame (uint8 [size, size, 3]) from a named camera."""
        cid = self._cam_ids.get(camera)
        if cid is None:
            cid = self._cam_ids[camera] = self.model.camera(camera).id
        self._renderer.update_scene(self.data, camera=cid, scene_option=self.option)
        # update_scene rebuilds the scene; keep our flags on it
        return self._renderer.render()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._renderer.close()
