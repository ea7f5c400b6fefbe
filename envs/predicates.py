"""Goal predicates (On, In, Open, Closed, TurnedOn, TurnedOff, Stacked, InRegion).

Each predicate is a pure function of the simulator state (through SceneQuery); a task
succeeds when every predicate of its goal holds. Tolerances are metres and are
parameters of ``PredicateTolerances``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs import catalog
from envs.scene import SceneQuery
from envs.spec import TaskSpec


@dataclass(frozen=True)
class PredicateTolerances:
    """Contact tolerances (m): how far a bottom may sit above/below the supporting top."""

    above: float = 0.02
    below: float = 0.012
    #: fraction of the support's half size the centre must lie within
    footprint: float = 0.95


def _within(
    center: np.ndarray, rot: np.ndarray, half: np.ndarray, p: np.ndarray, frac: float
) -> bool:
    local = rot.T @ (p - center)
    return bool(abs(local[0]) <= half[0] * frac and abs(local[1]) <= half[1] * frac)


def holds(q: SceneQuery, task: TaskSpec, pred: tuple[str, ...], tol: PredicateTolerances) -> bool:
    """Whether one goal predicate holds in the current state."""
    head, args = pred[0], pred[1:]
    if head in ("On", "Stacked"):
        a, b = args
        lo, hi = q.aabb(a)
        center_a = (lo + hi) / 2
        c, half, top = q.surface_top(b)
        round_support = b in q.obj_geoms and task.object(b).kind in ("plate", "bowl")
        if round_support:
            # round supports: test the radius, not the box
            inside = np.linalg.norm(center_a[:2] - c[:2]) <= half.min() * tol.footprint
        else:
            inside = _within(c, np.eye(3), half, center_a, tol.footprint)
        gap = lo[2] - top
        return bool(inside and -tol.below <= gap <= tol.above)
    if head == "In":
        a, b = args
        lo, hi = q.aabb(a)
        center_a = (lo + hi) / 2
        box = q.container(b)
        inside = _within(box["center"], box["rot"], box["inner_half_size"], center_a, 1.0)
        return bool(inside and lo[2] < box["rim_z"] and lo[2] > box["center"][2] - tol.below)
    if head == "Open":
        return q.drawer_opening(args[0]) >= catalog.DRAWER_OPEN_THRESHOLD
    if head == "Closed":
        return q.drawer_opening(args[0]) <= catalog.DRAWER_CLOSED_THRESHOLD
    if head == "TurnedOn":
        return q.button_depth(args[0]) >= catalog.BUTTON_ON_THRESHOLD
    if head == "TurnedOff":
        return q.button_depth(args[0]) < catalog.BUTTON_ON_THRESHOLD
    if head == "InRegion":
        a, r = args
        region = task.region(r)
        p = q.body_pos(a)
        return region.contains(p[0], p[1])
    raise KeyError(head)


def goal_status(
    q: SceneQuery, task: TaskSpec, tol: PredicateTolerances | None = None
) -> dict[str, bool]:
    """Map "(On bowl plate)"-style strings to whether each goal predicate holds."""
    tol = tol or PredicateTolerances()
    return {"(" + " ".join(p) + ")": holds(q, task, p, tol) for p in task.goal}
