"""LIBERO's goal predicates evaluated from our simulator state.

Semantics follow LIBERO's ``base_predicates`` / ``object_states``:

- ``(In a c_region)``: a's bounding-box centre lies inside the region's box. For a
  container's ``contain_region`` the box is the container's inner box (x, y in the
  container's frame) from its floor to ``rim_margin`` above its rim. LIBERO tests the
  object's body origin against the region site and calls site contact always true; we use
  the box centre (our origins are box centres anyway).
- ``(On a b)`` with b an object: a touches b (a MuJoCo contact between their geoms) and
  a's origin is not below b's (LIBERO's ``check_ontop``). With b a workspace region:
  a's centre is inside the region's (x, y) range and a's bottom within ``surface_tol``
  of the surface.
- ``(Up a)``: a's bottom is at least ``up_height`` above the surface (LIBERO: z >= 1.0 m
  in a world whose table top is at 0.9 m).

Lengths are metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from envs.catalog import TABLE_TOP_Z
from envs.libero.bddl import Atom
from envs.libero.scene import LiberoScene

_SIGNS = np.array(
    [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64
)


@dataclass(frozen=True)
class LiberoTolerances:
    """Margins (m) of the predicates above."""

    rim_margin: float = 0.02
    surface_tol: float = 0.02
    up_height: float = 0.1


class LiberoQuery:
    """Read-only geometry of one LiberoSimEnv's MjModel/MjData."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, scene: LiberoScene):
        self.m, self.d, self.scene = model, data, scene
        self.body = {o.name: model.body(f"{o.name}_main").id for o in scene.objects}
        self.geoms = {
            name: np.array(
                [
                    g
                    for g in range(model.ngeom)
                    if model.geom_bodyid[g] == bid
                    and (model.geom_contype[g] or model.geom_conaffinity[g])
                ],
                dtype=int,
            )
            for name, bid in self.body.items()
        }
        self._geom_owner = {int(g): n for n, gs in self.geoms.items() for g in gs}

    def aabb(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """World-axis-aligned box (lo, hi), m, of an object's collision geoms."""
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for g in self.geoms[name]:
            box = self.m.geom_aabb[g]
            w = (
                self.d.geom_xpos[g]
                + (box[:3] + _SIGNS * box[3:]) @ self.d.geom_xmat[g].reshape(3, 3).T
            )
            lo, hi = np.minimum(lo, w.min(axis=0)), np.maximum(hi, w.max(axis=0))
        return lo, hi

    def pos(self, name: str) -> np.ndarray:
        return self.d.xpos[self.body[name]].copy()

    def rot(self, name: str) -> np.ndarray:
        return self.d.xmat[self.body[name]].reshape(3, 3).copy()

    def touching(self, a: str, b: str) -> bool:
        for i in range(self.d.ncon):
            c = self.d.contact[i]
            pair = {self._geom_owner.get(int(c.geom1)), self._geom_owner.get(int(c.geom2))}
            if pair == {a, b}:
                return True
        return False


def _container_of(scene: LiberoScene, region_full: str) -> str | None:
    for o in scene.objects:
        if region_full.startswith(o.name + "_") and o.asset.container is not None:
            return o.name
    return None


def holds(q: LiberoQuery, atom: Atom, tol: LiberoTolerances) -> bool:
    """Whether one goal atom holds now."""
    sc = q.scene
    if atom.head == "In":
        a, region = atom.args
        c = _container_of(sc, region)
        if c is None:
            raise KeyError(f"{atom}: {region!r} is not a container region of this scene")
        ix, iy, rim = sc.object(c).asset.container  # type: ignore[misc]
        lo, hi = q.aabb(a)
        center = (lo + hi) / 2
        half_z = sc.object(c).asset.half[2]
        local = q.rot(c).T @ (center - q.pos(c))
        return bool(
            abs(local[0]) <= ix
            and abs(local[1]) <= iy
            and -half_z <= local[2] <= -half_z + rim + tol.rim_margin
        )
    if atom.head == "On":
        a, b = atom.args
        if b in q.body:
            return q.touching(a, b) and bool(q.pos(a)[2] >= q.pos(b)[2])
        r = sc.problem.region(b)
        lo, hi = q.aabb(a)
        cx, cy = (lo[:2] + hi[:2]) / 2
        inside = any(x0 <= cx <= x1 and y0 <= cy <= y1 for x0, y0, x1, y1 in r.ranges)
        return inside and abs(lo[2] - TABLE_TOP_Z) <= tol.surface_tol
    if atom.head == "Up":
        lo, _ = q.aabb(atom.args[0])
        return bool(lo[2] - TABLE_TOP_Z >= tol.up_height)
    raise KeyError(f"{atom}: predicate {atom.head} is not evaluated on this scene")


def goal_status(q: LiberoQuery, tol: LiberoTolerances | None = None) -> dict[str, bool]:
    """Map ``"(In milk_1 basket_1_contain_region)"`` to whether it holds now."""
    tol = tol or LiberoTolerances()
    return {str(a): holds(q, a, tol) for a in q.scene.problem.goal_atoms}
