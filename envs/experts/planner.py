"""Turn a task's goal predicates into a sequence of skills, executed in order.

Supported predicates and the skill each one maps to:

- ``On a b`` / ``Stacked a b``: pick ``a``, place it on top of ``b`` (object or fixture).
- ``In a b``: pick ``a``, release it above the interior of container ``b``.
- ``InRegion a r``: pick ``a``, set it down at the centre of table region ``r``.
- ``Open d`` / ``Closed d``: grasp drawer ``d``'s handle and pull / push it.
- ``TurnedOn s``: press stove ``s``'s button.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from envs.experts.control import Context
from envs.experts.errors import UnsupportedPredicateError
from envs.experts.fixtures import press_button, slide_drawer
from envs.experts.primitives import Primitive
from envs.experts.scene import Scene
from envs.experts.skills import PlaceSpot, SpotFn, pick_and_place

SUPPORTED: tuple[str, ...] = ("On", "Stacked", "In", "InRegion", "Open", "Closed", "TurnedOn")


def spot_on(target: str) -> SpotFn:
    """Top surface of object or fixture ``target``."""

    def fn(scene: Scene) -> PlaceSpot:
        if target in scene.bodies:
            b = scene.body(target)
            return PlaceSpot(xy=b.pos[:2].copy(), surface_z=b.top_z, clear_z=b.top_z)
        top = scene.site(f"{target}:top")
        return PlaceSpot(xy=top[:2].copy(), surface_z=float(top[2]), clear_z=float(top[2]))

    return fn


def spot_in(target: str) -> SpotFn:
    """Above the interior of container ``target``; the object is released just above its rim."""

    def fn(scene: Scene) -> PlaceSpot:
        if f"{target}:interior" in scene.sites:
            inside = scene.site(f"{target}:interior")
            rim = scene.scalars.get(f"{target}:rim_z", float(inside[2]))
            return PlaceSpot(xy=inside[:2].copy(), surface_z=float(rim), clear_z=float(rim))
        b = scene.body(target)
        return PlaceSpot(xy=b.pos[:2].copy(), surface_z=b.top_z, clear_z=b.top_z)

    return fn


def spot_region(region: str) -> SpotFn:
    """Centre of table region ``region``, resting on the table."""

    def fn(scene: Scene) -> PlaceSpot:
        c = scene.site(f"region:{region}")
        return PlaceSpot(
            xy=np.asarray(c[:2], dtype=float), surface_z=scene.table_z, clear_z=scene.table_z
        )

    return fn


def skill_for(ctx: Context, predicate: Sequence[str]) -> Primitive:
    """The skill generator that achieves one goal predicate."""
    head, *args = predicate
    if head in ("On", "Stacked"):
        return pick_and_place(ctx, args[0], spot_on(args[1]))
    if head == "In":
        return pick_and_place(ctx, args[0], spot_in(args[1]))
    if head == "InRegion":
        return pick_and_place(ctx, args[0], spot_region(args[1]))
    if head == "Open":
        return slide_drawer(ctx, args[0], open_it=True)
    if head == "Closed":
        return slide_drawer(ctx, args[0], open_it=False)
    if head == "TurnedOn":
        return press_button(ctx, args[0])
    raise UnsupportedPredicateError(tuple(predicate), SUPPORTED)


def validate_goal(goal: Sequence[Sequence[str]]) -> None:
    """Raise :class:`UnsupportedPredicateError` for any predicate without a skill."""
    for pred in goal:
        if not pred or pred[0] not in SUPPORTED:
            raise UnsupportedPredicateError(tuple(pred), SUPPORTED)


def run_plan(ctx: Context, goal: Sequence[Sequence[str]]) -> Primitive:
    """Achieve every predicate of ``goal`` in order; returns False at the first failed skill."""
    for pred in goal:
        if not (yield from skill_for(ctx, pred)):
            ctx.phase = f"failed:{pred[0]}"
            return False
    ctx.phase = "done"
    return True
