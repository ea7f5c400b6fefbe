"""Motion primitives as generators: each yields 7-D actions and returns success.

A primitive reads ``ctx.obs`` / ``ctx.scene`` afresh at every step (the expert
refreshes them before resuming the generator), so targets that depend on moving
objects are recomputed every step.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np

from envs.experts.control import GRIPPER_CLOSE, GRIPPER_OPEN, Context
from envs.experts.geometry import wrap_angle

Primitive = Generator[np.ndarray, None, bool]
Target = Callable[[Context], np.ndarray]


def move_to(
    ctx: Context,
    target: Target,
    *,
    gripper: float,
    speed: float,
    tol: float,
    timeout: int,
    name: str,
    yaw_tol: float = 0.08,
    abort: Callable[[Context], bool] | None = None,
) -> Primitive:
    """Servo the EE to ``target(ctx)`` (m, world) while holding the top-down yaw.

    Returns True once within ``tol`` (m) and ``yaw_tol`` (rad) of the target, False after
    ``timeout`` steps or as soon as ``abort(ctx)`` is true (e.g. the held object dropped).
    """
    ctx.phase = name
    for _ in range(timeout):
        if abort is not None and abort(ctx):
            return False
        err = target(ctx) - ctx.eef_pos
        yaw_err = abs(wrap_angle(ctx.yaw - ctx.current_yaw()))
        if np.linalg.norm(err) < tol and yaw_err < yaw_tol:
            return True
        yield ctx.action(err, gripper, speed)
    return False


def hold(ctx: Context, steps: int, *, gripper: float, name: str) -> Primitive:
    """Hold the current EE position for ``steps`` steps (gripper settling)."""
    ctx.phase = name
    anchor = ctx.eef_pos.copy()
    for _ in range(steps):
        yield ctx.action(anchor - ctx.eef_pos, gripper, ctx.cfg.slow_speed)
    return True


def close_gripper(ctx: Context) -> Primitive:
    """Close the fingers and wait for them to settle."""
    return (yield from hold(ctx, ctx.cfg.gripper_settle, gripper=GRIPPER_CLOSE, name="close"))


def open_gripper(ctx: Context) -> Primitive:
    """Open the fingers and wait for them to settle."""
    return (yield from hold(ctx, ctx.cfg.gripper_settle, gripper=GRIPPER_OPEN, name="open"))


def point(p: np.ndarray) -> Target:
    """A fixed target (m, world)."""
    p = np.asarray(p, dtype=float).copy()
    return lambda ctx: p


def transit(
    ctx: Context,
    target: Target,
    *,
    gripper: float,
    name: str,
    ignore: tuple[str, ...] = (),
    below_eef: float = 0.0,
    timeout: int | None = None,
) -> Primitive:
    """Go to ``target(ctx)`` over whatever lies on the way: up, across, then down.

    Args:
        ignore: objects/fixtures not counted as obstacles (the one being approached or held).
        below_eef: how far anything held hangs below the EE (m), added to the clearance.
    """
    cfg = ctx.cfg
    goal = target(ctx)
    top = ctx.scene.path_top_z(
        ctx.eef_pos[:2], goal[:2], margin_xy=cfg.transit_margin, ignore=ignore
    )
    safe_z = top + cfg.transit_clearance + below_eef
    if safe_z > goal[2] + cfg.pos_tolerance:
        if ctx.eef_pos[2] < safe_z - cfg.pos_tolerance:
            yield from rise_to(ctx, safe_z, gripper=gripper, name=f"{name}:up")
        ok = yield from move_to(
            ctx,
            lambda c: np.array([*target(c)[:2], safe_z]),
            gripper=gripper,
            speed=cfg.fast_speed,
            tol=cfg.pos_tolerance,
            timeout=timeout or cfg.move_timeout * 2,
            name=f"{name}:across",
        )
        if not ok:
            return False
    return (
        yield from move_to(
            ctx,
            target,
            gripper=gripper,
            speed=cfg.fast_speed,
            tol=cfg.pos_tolerance,
            timeout=timeout or cfg.move_timeout * 2,
            name=name,
        )
    )


def descend_to(
    ctx: Context,
    target: Target,
    *,
    gripper: float,
    name: str,
    yaw_tol: float = 0.08,
) -> Primitive:
    """The slow, fine move of a grasp or a placement: to ``target(ctx)`` (m) at the config's
    slow speed and fine tolerance (``move_to`` with those settings)."""
    return (
        yield from move_to(
            ctx,
            target,
            gripper=gripper,
            speed=ctx.cfg.slow_speed,
            tol=ctx.cfg.fine_tolerance,
            timeout=ctx.cfg.move_timeout,
            name=name,
            yaw_tol=yaw_tol,
        )
    )


def rise_to(
    ctx: Context,
    z: float,
    *,
    gripper: float,
    name: str = "rise",
    abort: Callable[[Context], bool] | None = None,
) -> Primitive:
    """Move straight up (or down) to height ``z`` (m) at the current xy."""
    xy = ctx.eef_pos[:2].copy()
    target = np.array([xy[0], xy[1], z])
    return (
        yield from move_to(
            ctx,
            point(target),
            gripper=gripper,
            speed=ctx.cfg.fast_speed,
            tol=ctx.cfg.pos_tolerance,
            timeout=ctx.cfg.move_timeout,
            name=name,
            yaw_tol=np.inf,
            abort=abort,
        )
    )
