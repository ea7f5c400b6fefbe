"""Skills built from primitives: pick, place, pick-and-place (with regrasp).

Each skill is a generator of 7-D actions returning True on success. Heights are
metres in the world frame; the EE position is the grip site between the fingertips.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from envs.experts.control import GRIPPER_CLOSE, GRIPPER_OPEN, Context
from envs.experts.geometry import wrap_angle
from envs.experts.primitives import (
    Primitive,
    close_gripper,
    descend_to,
    move_to,
    open_gripper,
    rise_to,
    transit,
)
from envs.experts.scene import Body, Scene


@dataclass(frozen=True)
class PlaceSpot:
    """Where a held object should go.

    Attributes:
        xy: (2,) target position of the object's centre (m, world).
        surface_z: height (m) the object's bottom is released just above.
        clear_z: highest point (m) of the target the object must clear while carried.
    """

    xy: np.ndarray
    surface_z: float
    clear_z: float


SpotFn = Callable[[Scene], PlaceSpot]


def _finger_dir(yaw: float) -> np.ndarray:
    # The fingers open along the EE's y axis; at top-down yaw ``yaw`` that is world
    # (sin yaw, -cos yaw) (the sign does not matter: both fingers are checked).
    return np.array([np.sin(yaw), -np.cos(yaw)])


def _finger_clearance(ctx: Context, body: Body, yaw: float) -> float:
    """Smallest xy gap (m) between the open fingertips at ``yaw`` and any other object."""
    reach = ctx.cfg.finger_reach
    tips = [body.pos[:2] + sign * reach * _finger_dir(yaw) for sign in (-1.0, 1.0)]
    gap = np.inf
    for name, other in ctx.scene.bodies.items():
        if name == body.name:
            continue
        half = other.world_half_extent[:2]
        for tip in tips:
            outside = np.maximum(np.abs(tip - other.pos[:2]) - half, 0.0)
            gap = min(gap, float(np.linalg.norm(outside)))
    return gap


def grasp_yaw(ctx: Context, body: Body) -> float:
    """Yaw (rad) that closes the fingers across a side that fits, nearest the current yaw.

    Elongated objects are taken across their long axis. When the object fits the gripper
    either way, the orientation whose open fingertips keep farther from the neighbours
    wins (fingers landing on a neighbour push the hand off the object).
    """
    rot = body.rot
    if body.is_elongated():
        bases = [body.long_axis_yaw()]
    else:
        x_yaw = float(np.arctan2(rot[1, 0], rot[0, 0]))
        bases = [x_yaw, x_yaw + np.pi / 2.0]
    fits = 2.0 * max(body.half_size[0], body.half_size[1]) <= ctx.cfg.max_grasp_width
    if not fits:
        bases = (
            bases[:1]
            if body.is_elongated()
            else [bases[int(body.half_size[1] > body.half_size[0])]]
        )
    options = [ctx.yaw + wrap_angle(b - ctx.yaw, np.pi) for b in bases]
    if len(options) == 1:
        return options[0]
    gaps = [_finger_clearance(ctx, body, y) for y in options]
    # Prefer the smaller wrist turn unless the other option is clearly freer.
    best = int(np.argmin([abs(y - ctx.yaw) for y in options]))
    other = 1 - best
    if gaps[best] < ctx.cfg.finger_gap and gaps[other] > gaps[best]:
        return options[other]
    return options[best]


def _grasp_height(ctx: Context, body: Body, table_z: float) -> float:
    cfg = ctx.cfg
    # Close at the widest part of short/round objects (a sphere squeezed above its centre
    # pops out upwards), but never so deep that the hand hits the top of a tall object.
    z = min(body.top_z - cfg.grasp_depth, float(body.pos[2]))
    z = max(z, body.top_z - cfg.max_finger_depth)
    return max(z, table_z + cfg.finger_clearance)


def pick(ctx: Context, name: str) -> Primitive:
    """Grasp object ``name`` top-down and lift it; regrasp if the lift check fails."""
    cfg = ctx.cfg
    for attempt in range(cfg.max_grasp_retries + 1):
        scene = ctx.scene
        body = scene.body(name)
        ctx.yaw = grasp_yaw(ctx, body)
        approach_z = body.top_z + cfg.approach_height

        def above(c: Context, name=name, approach_z=approach_z) -> np.ndarray:
            p = c.scene.body(name).pos
            return np.array([p[0], p[1], approach_z])

        yield from transit(ctx, above, gripper=GRIPPER_OPEN, name=f"above:{name}", ignore=(name,))

        def down(c: Context, name=name) -> np.ndarray:
            b = c.scene.body(name)
            return np.array([b.pos[0], b.pos[1], _grasp_height(c, b, c.scene.table_z)])

        yield from descend_to(
            ctx,
            down,
            gripper=GRIPPER_OPEN,
            name=f"descend:{name}",
        )
        yield from close_gripper(ctx)
        start_z = ctx.scene.body(name).pos[2]
        yield from rise_to(
            ctx, ctx.eef_pos[2] + cfg.lift_height, gripper=GRIPPER_CLOSE, name=f"lift:{name}"
        )
        if is_held(ctx, name, start_z):
            return True
        ctx.phase = f"regrasp:{name}:{attempt + 1}"
        yield from open_gripper(ctx)
    return False


def is_held(ctx: Context, name: str, start_z: float) -> bool:
    """Object rose by ``lift_check`` with closed-but-not-empty fingers."""
    body = ctx.scene.body(name)
    rose = body.pos[2] - start_z >= ctx.cfg.lift_check
    fingers_on_object = ctx.gripper_width > ctx.cfg.min_grip_width
    near = np.linalg.norm(body.pos[:2] - ctx.eef_pos[:2]) < 0.1
    return bool(rose and fingers_on_object and near)


def dropped(ctx: Context, name: str) -> bool:
    """The held object is no longer between the fingers (slipped or knocked out)."""
    body = ctx.scene.body(name)
    off = body.pos - ctx.eef_pos
    far = np.linalg.norm(off[:2]) > max(0.05, float(np.max(body.world_half_extent[:2])) + 0.02)
    below = off[2] < -(body.pos[2] - body.bottom_z) - 0.05
    return bool(far or below or ctx.gripper_width < ctx.cfg.min_grip_width)


def carry_height(ctx: Context, name: str, spot: PlaceSpot) -> float:
    """EE height (m) that carries ``name`` over the target and anything on the way."""
    scene = ctx.scene
    body = scene.body(name)
    offset = ctx.eef_pos[2] - body.bottom_z  # EE above the held object's bottom
    on_path = scene.path_top_z(
        body.pos[:2], spot.xy, margin_xy=ctx.cfg.transit_margin, ignore=(name,)
    )
    return max(spot.clear_z, on_path) + ctx.cfg.carry_clearance + offset


def place(ctx: Context, name: str, spot_fn: SpotFn) -> Primitive:
    """Carry the held object ``name`` over ``spot_fn(scene)``, lower it and release it."""
    cfg = ctx.cfg
    spot = spot_fn(ctx.scene)
    z_carry = max(carry_height(ctx, name, spot), ctx.eef_pos[2])

    def lost(c: Context, name=name) -> bool:
        return dropped(c, name)

    yield from rise_to(ctx, z_carry, gripper=GRIPPER_CLOSE, name=f"carry-up:{name}", abort=lost)
    if lost(ctx):
        return (yield from _let_go(ctx, name))

    def over(c: Context, name=name, z=z_carry) -> np.ndarray:
        s = spot_fn(c.scene)
        # Aim the object's centre (not the EE) at the spot: add the in-hand xy offset.
        offset = c.eef_pos[:2] - c.scene.body(name).pos[:2]
        xy = s.xy + offset
        return np.array([xy[0], xy[1], z])

    yield from move_to(
        ctx,
        over,
        gripper=GRIPPER_CLOSE,
        speed=cfg.fast_speed,
        tol=cfg.pos_tolerance,
        timeout=cfg.move_timeout * 3,
        name=f"carry:{name}",
        yaw_tol=np.inf,
        abort=lost,
    )
    if lost(ctx):
        return (yield from _let_go(ctx, name))

    def lower(c: Context, name=name) -> np.ndarray:
        s = spot_fn(c.scene)
        b = c.scene.body(name)
        offset = c.eef_pos - b.pos
        z = s.surface_z + cfg.place_clearance + (b.pos[2] - b.bottom_z) + offset[2]
        xy = s.xy + offset[:2]
        return np.array([xy[0], xy[1], z])

    yield from descend_to(
        ctx,
        lower,
        gripper=GRIPPER_CLOSE,
        name=f"lower:{name}",
        yaw_tol=np.inf,
    )
    yield from open_gripper(ctx)
    yield from rise_to(
        ctx, ctx.eef_pos[2] + cfg.retreat_height, gripper=GRIPPER_OPEN, name="retreat"
    )
    return True


def _let_go(ctx: Context, name: str) -> Primitive:
    """The object slipped: open the hand so the next pick starts clean; report failure."""
    ctx.phase = f"dropped:{name}"
    yield from open_gripper(ctx)
    return False


def graspable(ctx: Context, body: Body) -> bool:
    """Whether the object's narrower horizontal side fits between the open fingers."""
    return bool(2.0 * min(body.half_size[0], body.half_size[1]) <= ctx.cfg.max_grasp_width)


def push(ctx: Context, name: str, spot_fn: SpotFn, attempts: int = 3) -> Primitive:
    """Push ``name`` across the table with the closed fingers until its centre reaches the spot."""
    cfg = ctx.cfg

    def remaining(c: Context) -> np.ndarray:
        return spot_fn(c.scene).xy - c.scene.body(name).pos[:2]

    for _ in range(attempts):
        if np.linalg.norm(remaining(ctx)) < cfg.push_tolerance:
            return True
        body = ctx.scene.body(name)
        radius = float(np.max(body.world_half_extent[:2]))
        d = remaining(ctx)
        u = d / max(np.linalg.norm(d), 1e-9)
        push_z = ctx.scene.table_z + cfg.push_height
        safe_z = body.top_z + cfg.approach_height
        behind = body.pos[:2] - u * (radius + 0.03)
        # Fingers across the push direction give a wide, flat pusher.
        ctx.yaw = ctx.yaw + wrap_angle(float(np.arctan2(u[1], u[0])) - ctx.yaw, np.pi)
        yield from transit(
            ctx,
            lambda c, b=behind, z=safe_z: np.array([b[0], b[1], z]),
            gripper=GRIPPER_CLOSE,
            name=f"behind:{name}",
        )
        yield from descend_to(
            ctx,
            lambda c, b=behind, z=push_z: np.array([b[0], b[1], z]),
            gripper=GRIPPER_CLOSE,
            name=f"lower:{name}",
        )
        ctx.phase = f"push:{name}"
        for _ in range(cfg.move_timeout * 3):
            d = remaining(ctx)
            if np.linalg.norm(d) < cfg.push_tolerance:
                break
            u_now = d / np.linalg.norm(d)
            centre = ctx.scene.body(name).pos[:2]
            # Lost contact sideways: the EE drifted off the line through the centre.
            rel = ctx.eef_pos[:2] - centre
            if abs(rel[0] * u_now[1] - rel[1] * u_now[0]) > 0.5 * radius:
                break
            goal_xy = centre - u_now * (radius + 0.005) + u_now * cfg.push_lead
            target = np.array([goal_xy[0], goal_xy[1], push_z])
            yield ctx.action(target - ctx.eef_pos, GRIPPER_CLOSE, cfg.slow_speed)
        yield from rise_to(ctx, safe_z, gripper=GRIPPER_CLOSE, name="retreat")
    return bool(np.linalg.norm(remaining(ctx)) < cfg.push_tolerance)


def pick_and_place(ctx: Context, name: str, spot_fn: SpotFn, attempts: int = 2) -> Primitive:
    """Pick ``name`` and place it at ``spot_fn``; push it there if it is too wide to grasp.

    Retries the whole skill if the object drops.
    """
    if not graspable(ctx, ctx.scene.body(name)):
        return (yield from push(ctx, name, spot_fn))
    for _ in range(attempts):
        if not (yield from pick(ctx, name)):
            continue
        if (yield from place(ctx, name, spot_fn)):
            return True
    return False
