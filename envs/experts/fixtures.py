"""Skills on articulated fixtures: slide a drawer, press a button.

Scene naming (see :mod:`envs.experts.adapters`): a drawer ``d`` provides the site
``d:handle`` (m, world), the unit vector ``d:pull`` (direction the drawer opens),
the joint ``d`` (opening, m) and the scalars ``d:open_threshold`` /
``d:closed_threshold`` (m). A button fixture ``s`` provides the site ``s:button``
(its top, m, world).
"""

from __future__ import annotations

import numpy as np

from envs.experts.control import GRIPPER_CLOSE, GRIPPER_OPEN, Context
from envs.experts.geometry import wrap_angle
from envs.experts.primitives import (
    Primitive,
    close_gripper,
    hold,
    move_to,
    open_gripper,
    point,
    rise_to,
)


def _handle_yaw(ctx: Context, pull: np.ndarray) -> float:
    # The handle is a stick along the pull direction ending in a cross bar. Fingers close
    # along the EE's y axis: keep that axis across the stick (EE x along the pull) so the
    # fingers pinch the stick's sides and the cross bar hooks them if the pinch slips.
    base = float(np.arctan2(pull[1], pull[0]))
    return ctx.yaw + wrap_angle(base - ctx.yaw, np.pi)


def slide_drawer(ctx: Context, drawer: str, *, open_it: bool) -> Primitive:
    """Grasp the drawer handle from above and pull (``open_it``) or push it past its threshold."""
    cfg = ctx.cfg
    scene = ctx.scene

    def done(c: Context) -> bool:
        q = c.scene.joint(drawer)
        if open_it:
            return q >= c.scene.scalar(f"{drawer}:open_threshold") + cfg.drawer_margin
        return q <= c.scene.scalar(f"{drawer}:closed_threshold") - cfg.drawer_margin

    if done(ctx):
        return True
    pull = scene.vector(f"{drawer}:pull")
    pull = pull / max(np.linalg.norm(pull[:2]), 1e-9)
    ctx.yaw = _handle_yaw(ctx, pull)
    handle = scene.site(f"{drawer}:handle")
    approach_z = handle[2] + cfg.approach_height
    if ctx.eef_pos[2] < approach_z - cfg.pos_tolerance:
        yield from rise_to(ctx, approach_z, gripper=GRIPPER_OPEN, name="clear")

    def above(c: Context) -> np.ndarray:
        h = c.scene.site(f"{drawer}:handle")
        return np.array([h[0], h[1], approach_z])

    yield from move_to(
        ctx,
        above,
        gripper=GRIPPER_OPEN,
        speed=cfg.fast_speed,
        tol=cfg.pos_tolerance,
        timeout=cfg.move_timeout * 2,
        name=f"above:{drawer}",
    )
    yield from move_to(
        ctx,
        lambda c: c.scene.site(f"{drawer}:handle"),
        gripper=GRIPPER_OPEN,
        speed=cfg.slow_speed,
        tol=cfg.fine_tolerance,
        timeout=cfg.move_timeout,
        name=f"descend:{drawer}",
    )
    yield from close_gripper(ctx)
    direction = pull if open_it else -pull
    ctx.phase = f"{'pull' if open_it else 'push'}:{drawer}"
    for _ in range(cfg.move_timeout * 3):
        if done(ctx):
            break
        # Lead the handle by a few cm along the slide; hold its height and lateral position.
        h = ctx.scene.site(f"{drawer}:handle")
        target = h + direction * 0.04
        yield ctx.action(target - ctx.eef_pos, GRIPPER_CLOSE, cfg.drawer_pull_speed)
    ok = done(ctx)
    yield from open_gripper(ctx)
    back = ctx.eef_pos + pull * 0.03 + np.array([0.0, 0.0, cfg.retreat_height])
    yield from move_to(
        ctx,
        point(back),
        gripper=GRIPPER_OPEN,
        speed=cfg.fast_speed,
        tol=cfg.pos_tolerance,
        timeout=cfg.move_timeout,
        name="retreat",
        yaw_tol=np.inf,
    )
    return ok


def press_button(ctx: Context, fixture: str) -> Primitive:
    """Press ``fixture``'s button down with closed fingers, then back off."""
    cfg = ctx.cfg
    button = ctx.scene.site(f"{fixture}:button")
    approach_z = button[2] + cfg.approach_height
    if ctx.eef_pos[2] < approach_z - cfg.pos_tolerance:
        yield from rise_to(ctx, approach_z, gripper=GRIPPER_CLOSE, name="clear")
    yield from move_to(
        ctx,
        point(np.array([button[0], button[1], approach_z])),
        gripper=GRIPPER_CLOSE,
        speed=cfg.fast_speed,
        tol=cfg.pos_tolerance,
        timeout=cfg.move_timeout * 2,
        name=f"above:{fixture}",
    )
    press = np.array([button[0], button[1], button[2] - cfg.press_depth])
    yield from move_to(
        ctx,
        point(press),
        gripper=GRIPPER_CLOSE,
        speed=cfg.slow_speed,
        tol=cfg.fine_tolerance,
        timeout=cfg.move_timeout,
        name=f"press:{fixture}",
    )
    yield from hold(ctx, cfg.gripper_settle, gripper=GRIPPER_CLOSE, name=f"press:{fixture}")
    yield from rise_to(ctx, approach_z, gripper=GRIPPER_CLOSE, name="retreat")
    return True
