"""Geometric queries on the simulator state: object boxes, fixture sites, articulation.

Shared by the goal predicates (``envs.predicates``) and the privileged state the
scripted expert reads, so both see the same numbers. World frame, metres.
"""

from __future__ import annotations

import mujoco
import numpy as np

from envs import catalog
from envs.spec import TaskSpec

_SIGNS = np.array(
    [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64
)


class SceneQuery:
    """Read-only views of one TaskSimEnv's MjModel/MjData for a TaskSpec."""

    def __init__(
        self,
        model: mujoco.MjModel,
        data: mujoco.MjData,
        task: TaskSpec,
        root_body_ids: dict[str, int],
    ):
        self.m, self.d, self.task = model, data, task
        self.root = dict(root_body_ids)
        # collision geoms of every movable object (its whole body subtree)
        self.obj_geoms: dict[str, np.ndarray] = {}
        for o in task.objects:
            bid = self.root[o.name]
            geoms = [
                g
                for g in range(model.ngeom)
                if self._in_subtree(model.geom_bodyid[g], bid)
                and (model.geom_contype[g] or model.geom_conaffinity[g])
            ]
            self.obj_geoms[o.name] = np.array(geoms, dtype=int)
        self.fixture_kind = {f.name: f.kind for f in task.fixtures}

    def _in_subtree(self, body: int, root: int) -> bool:
        while body > 0:
            if body == root:
                return True
            body = self.m.body_parentid[body]
        return False

    # --- objects -----------------------------------------------------------------------
    def geom_aabb(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        """World-axis-aligned box (lo, hi), m, of one geom."""
        box = self.m.geom_aabb[g]
        corners = box[:3] + _SIGNS * box[3:]
        w = self.d.geom_xpos[g] + corners @ self.d.geom_xmat[g].reshape(3, 3).T
        return w.min(axis=0), w.max(axis=0)

    def aabb(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """World-axis-aligned bounding box (lo, hi), m, of an object's collision geoms."""
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for g in self.obj_geoms[name]:
            glo, ghi = self.geom_aabb(g)
            lo = np.minimum(lo, glo)
            hi = np.maximum(hi, ghi)
        return lo, hi

    def body_pos(self, name: str) -> np.ndarray:
        return self.d.xpos[self.root[name]].copy()

    def body_quat_wxyz(self, name: str) -> np.ndarray:
        return self.d.xquat[self.root[name]].copy()

    # --- fixtures ----------------------------------------------------------------------
    def site(self, name: str) -> np.ndarray:
        return self.d.site_xpos[self.m.site(name).id].copy()

    def joint_qpos(self, name: str) -> float:
        return float(self.d.qpos[self.m.joint(name).qposadr[0]])

    def fixture_frame(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        bid = self.m.body(f"{name}_main").id
        return self.d.xpos[bid].copy(), self.d.xmat[bid].reshape(3, 3).copy()

    def drawer_opening(self, name: str) -> float:
        """How far the drawer is pulled out (m), 0 = closed."""
        return self.joint_qpos(f"{name}_slide")

    def button_depth(self, name: str) -> float:
        """How far the stove button is pressed in (m), 0 = up."""
        return -self.joint_qpos(f"{name}_button")

    def container(self, name: str) -> dict[str, np.ndarray | float]:
        """Inner box of a container: center (world xyz of its floor), rotation, inner half
        sizes (m) and the z of its rim."""
        if name in self.obj_geoms:  # a bowl (or any object used as a container)
            lo, hi = self.aabb(name)
            c = (lo + hi) / 2
            half = (hi - lo) / 2 - 0.004
            return {
                "center": np.array([c[0], c[1], lo[2]]),
                "rot": np.eye(3),
                "inner_half_size": half[:2],
                "rim_z": float(hi[2]),
            }
        kind = self.fixture_kind[name]
        if kind == "basket":
            pos, rot = self.fixture_frame(name)
            return {
                "center": self.site(f"{name}_center"),
                "rot": rot,
                "inner_half_size": np.array(catalog.BASKET_INNER_HALF),
                "rim_z": float(pos[2] + catalog.BASKET_WALL_HEIGHT),
            }
        if kind == "cabinet":
            bid = self.m.body(f"{name}_drawer").id
            rot = self.d.xmat[bid].reshape(3, 3).copy()
            hx, hy = catalog.CABINET_HALF
            inner = np.array([hx - 0.016 - 0.006, hy - 0.012 - 0.008 - 0.006])
            c = self.site(f"{name}_inner_site")
            return {"center": c, "rot": rot, "inner_half_size": inner, "rim_z": float(c[2] + 0.06)}
        raise KeyError(f"{name!r} is not a container")

    def surface_top(self, name: str) -> tuple[np.ndarray, np.ndarray, float]:
        """(center xyz, half sizes xy, top z) of the surface of an object or stove (m)."""
        if name in self.obj_geoms:
            lo, hi = self.aabb(name)
            return (lo + hi) / 2, (hi - lo)[:2] / 2, float(hi[2])
        if self.fixture_kind.get(name) == "stove":
            c = self.site(f"{name}_burner_site")
            return c, np.array([0.06, 0.06]), float(c[2])
        raise KeyError(f"{name!r} has no top surface")

    def gripper_opening(self, qpos_idx: np.ndarray) -> float:
        """Distance between the Panda fingers (m)."""
        q = self.d.qpos[qpos_idx]
        return float(abs(q[0]) + abs(q[1]))
