"""LIBERO's goal predicates evaluated from our simulator state.

Semantics follow LIBERO's ``base_predicates`` / ``object_states``:

- ``(In a c_region)``: a's body origin lies inside the region's box. For a
  container's ``contain_region`` the box is the container's inner box (x, y in the
  container's frame) from its floor to ``rim_margin`` above its rim. LIBERO tests the
  object's body origin against the region site and calls site contact always true.
- ``(On a b)`` with b an object: a touches b (a MuJoCo contact between their geoms) and
  a's origin is not below b's (LIBERO's ``check_ontop``). With b a workspace region:
  a's origin is inside the region's (x, y) range and a's bottom within ``surface_tol``
  of the surface (ranges widened by ``region_margin``). With b a fixture region (cabinet
  top, stove burner, a drawer or the wine rack's holder): a's centre over the region box in
  the fixture's frame and its bottom on that surface (or, for walled regions, between the
  floor and the rim).
- ``(Open d)`` / ``(Close d)``: the drawer of region d (or the fixture's drawer) is out by at
  least / at most its threshold (8 cm / 1 cm); ``(TurnOn s)`` / ``(TurnOff s)``: the stove
  knob is turned at least 0.5 rad / at most 0.1 rad.
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
    #: workspace ranges are widened by this much: LIBERO's own init states put objects up
    #: to 0.5 cm outside the 2 cm ranges of their :init regions
    region_margin: float = 0.01


class LiberoQuery:
    """Read-only geometry of one LiberoSimEnv's MjModel/MjData."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, scene: LiberoScene):
        self.m, self.d, self.scene = model, data, scene
        self.body = {o.name: model.body(f"{o.name}_main").id for o in scene.objects}
        fixture_bodies = {
            f.name: [
                b for b in range(model.nbody) if (model.body(b).name or "").startswith(f.name + "_")
            ]
            for f in scene.fixtures
        }
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
        # fixture geoms count as the fixture (LIBERO's On a fixture checks contact with it)
        for name, bids in fixture_bodies.items():
            for g in range(model.ngeom):
                if model.geom_bodyid[g] in bids:
                    self._geom_owner[g] = name

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


def _region_frame(q: LiberoQuery, t) -> tuple[np.ndarray, np.ndarray]:
    """World (origin of the region's floor, rotation) of a fixture region."""
    fr = t.fixture_region
    body = f"{t.owner}_{fr.body}" if fr.body else f"{t.owner}_main"
    bid = q.m.body(body).id
    rot = q.d.xmat[bid].reshape(3, 3)
    return q.d.xpos[bid] + rot @ np.array(fr.center), rot


def _joint_state(q: LiberoQuery, fixture: str, suffix: str) -> float:
    return float(q.d.qpos[q.m.joint(f"{fixture}_{suffix}").qposadr[0]])


def _fixture_joint(q: LiberoQuery, name: str, kind: str):
    for j in q.scene.fixture(name).asset.joints:
        if j.kind == kind:
            return j
    raise KeyError(f"{name} has no {kind}")


def holds(q: LiberoQuery, atom: Atom, tol: LiberoTolerances) -> bool:
    """Whether one goal atom holds now."""
    sc = q.scene
    head = atom.head
    if head in ("Open", "Close"):
        t = sc.resolve(atom.args[0])
        if t.kind == "fixture_region":
            suffix = t.fixture_region.joint
            j = next(j for j in sc.fixture(t.owner).asset.joints if j.suffix == suffix)
        else:  # a fixture with one drawer or door (the microwave)
            j = next(j for j in sc.fixture(t.owner).asset.joints if j.kind in ("drawer", "door"))
        v = _joint_state(q, t.owner, j.suffix)
        return v >= j.on_threshold if head == "Open" else v <= j.off_threshold
    if head in ("TurnOn", "TurnOff"):
        name = atom.args[0]
        j = _fixture_joint(q, name, "knob")
        v = _joint_state(q, name, j.suffix)
        return v >= j.on_threshold if head == "TurnOn" else v <= j.off_threshold
    if head == "Up":
        lo, _ = q.aabb(atom.args[0])
        return bool(lo[2] - TABLE_TOP_Z >= tol.up_height)
    if head not in ("In", "On"):
        raise KeyError(f"{atom}: predicate {head} is not evaluated on this scene")
    a, b = atom.args
    t = sc.resolve(b)
    lo, _ = q.aabb(a)
    # LIBERO tests the object's body origin against the region (handles, spouts and pan
    # grips would pull a box centre out); our origins are the middle of the body's height
    center = q.pos(a)
    if t.kind == "object_region":  # a container object's contain_region
        c = sc.object(t.owner).asset
        ix, iy, rim = c.container  # type: ignore[misc]
        local = q.rot(t.owner).T @ (center - q.pos(t.owner))
        return bool(
            abs(local[0]) <= ix
            and abs(local[1]) <= iy
            and -c.half[2] <= local[2] <= -c.half[2] + rim + tol.rim_margin
        )
    if t.kind == "fixture_region":
        fr = t.fixture_region
        origin, rot = _region_frame(q, t)
        local = rot.T @ (center - origin)
        inside = abs(local[0]) <= fr.half[0] and abs(local[1]) <= fr.half[1]
        bottom = float(lo[2] - origin[2])  # regions are level (fixtures only yaw)
        if head == "In" or fr.rim > 0:  # walled: its bottom between the floor and the rim
            return bool(inside and -tol.surface_tol <= bottom <= fr.rim)
        return bool(inside and abs(bottom) <= tol.surface_tol)
    if t.kind == "object":
        return q.touching(a, b) and bool(q.pos(a)[2] >= q.pos(b)[2])
    if t.kind == "workspace":
        cx, cy = center[:2]
        e = tol.region_margin
        inside = any(
            x0 - e <= cx <= x1 + e and y0 - e <= cy <= y1 + e for x0, y0, x1, y1 in t.region.ranges
        )
        return inside and abs(lo[2] - TABLE_TOP_Z) <= tol.surface_tol
    raise KeyError(f"{atom}: {b!r} is a {t.kind}")


def goal_status(q: LiberoQuery, tol: LiberoTolerances | None = None) -> dict[str, bool]:
    """Map ``"(In milk_1 basket_1_contain_region)"`` to whether it holds now."""
    tol = tol or LiberoTolerances()
    return {str(a): holds(q, a, tol) for a in q.scene.problem.goal_atoms}


def init_status(q: LiberoQuery, tol: LiberoTolerances | None = None) -> dict[str, bool]:
    """The :init atoms about objects and articulations, and whether each holds now (all
    should right after ``reset``; fixtures' own placements are compiled in, not checked)."""
    tol = tol or LiberoTolerances()
    out = {}
    for a in q.scene.problem.init:
        if a.head in ("On", "In") and a.args[0] not in q.body:
            continue
        out[str(a)] = holds(q, a, tol)
    return out
