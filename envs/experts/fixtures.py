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
    descend_to,
    hold,
    move_to,
    open_gripper,
    point,
    rise_to,
    transit,
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
        # Go past the threshold by a margin, but never beyond what the joint can reach.
        if open_it:
            want = c.scene.scalar(f"{drawer}:open_threshold") + cfg.drawer_margin
            travel = c.scene.scalars.get(f"{drawer}:travel", np.inf)
            return q >= min(want, 0.5 * (c.scene.scalar(f"{drawer}:open_threshold") + travel))
        closed = c.scene.scalar(f"{drawer}:closed_threshold")
        return q <= closed - min(cfg.drawer_margin, 0.5 * closed)

    if done(ctx):
        return True
    pull = scene.vector(f"{drawer}:pull")
    pull = pull / max(np.linalg.norm(pull[:2]), 1e-9)
    ctx.yaw = _handle_yaw(ctx, pull)
    grip_offset = pull * cfg.handle_grasp_offset

    def handle_grip(c: Context) -> np.ndarray:
        return c.scene.site(f"{drawer}:handle") + grip_offset

    handle = handle_grip(ctx)
    approach_z = handle[2] + cfg.approach_height

    def above(c: Context) -> np.ndarray:
        h = handle_grip(c)
        return np.array([h[0], h[1], approach_z])

    yield from transit(ctx, above, gripper=GRIPPER_OPEN, name=f"above:{drawer}")
    yield from descend_to(
        ctx,
        handle_grip,
        gripper=GRIPPER_OPEN,
        name=f"descend:{drawer}",
    )
    yield from close_gripper(ctx)
    direction = pull if open_it else -pull
    ctx.phase = f"{'pull' if open_it else 'push'}:{drawer}"
    for _ in range(cfg.move_timeout * 3):
        if done(ctx):
            break
        # Lead the handle by a few cm along the slide; hold its height and lateral position.
        target = handle_grip(ctx) + direction * cfg.drawer_lead
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
    # Any yaw will do for a press: keep the current one rather than turning the wrist.
    ctx.yaw = ctx.current_yaw()
    yield from transit(
        ctx,
        point(np.array([button[0], button[1], approach_z])),
        gripper=GRIPPER_CLOSE,
        name=f"above:{fixture}",
        ignore=(fixture,),
    )
    # Aim below the button so the OSC spring pushes hard enough to overcome its friction;
    # stop as soon as the joint reports it latched past the on threshold.
    press = np.array([button[0], button[1], button[2] - cfg.press_depth])
    ctx.phase = f"press:{fixture}"
    pressed = False
    for _ in range(cfg.move_timeout):
        if _button_on(ctx, fixture):
            pressed = True
            break
        yield ctx.action(press - ctx.eef_pos, GRIPPER_CLOSE, cfg.slow_speed)
    if pressed:
        yield from hold(ctx, 2, gripper=GRIPPER_CLOSE, name=f"press:{fixture}")
    yield from rise_to(ctx, approach_z, gripper=GRIPPER_CLOSE, name="retreat")
    return _button_on(ctx, fixture)


def _button_on(ctx: Context, fixture: str) -> bool:
    """Button depth past the on threshold plus a margin (when the scene reports it)."""
    scene = ctx.scene
    if fixture not in scene.joints or f"{fixture}:on_threshold" not in scene.scalars:
        return False
    margin = 0.25 * (
        scene.scalars.get(f"{fixture}:button_travel", 0.0) - scene.scalar(f"{fixture}:on_threshold")
    )
    return scene.joint(fixture) >= scene.scalar(f"{fixture}:on_threshold") + max(margin, 0.0)
