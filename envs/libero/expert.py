"""Bridges from a rebuilt LIBERO env to ``envs.experts.ScriptedExpert`` (PRIVILEGED state).

``scene_fn(env)`` gives the expert's :class:`~envs.experts.scene.Scene` (object poses and
their own half sizes, container interiors as ``<name>:interior`` + ``<name>:rim_z``) and
``expert_goal(env)`` translates LIBERO's goal into the expert's predicate names:
``(In a basket_1_contain_region)`` -> ``("In", a, "basket_1")``, ``(On a b)`` with b an
object -> ``("On", a, b)``. Only these pick-and-place goals are translated so far.

``LiberoExpert`` is ``ScriptedExpert`` with two grasps the rebuilt table scenes need
(libero_spatial), chosen per object from the scene at reset (:func:`grasp_for`):

- an object standing in an open drawer is taken with the fingers across the drawer, so the
  Panda hand (20 cm along the finger axis) lies along the drawer and not over the carcass;
- a bowl whose centre lies beyond ``RIM_GRASP_REACH`` of the robot base is taken by its near
  wall (one finger inside), as LIBERO's bowls are held by the rim: the whole-bowl grasp there
  needs the grip site at table level 0.78 m and more from the base, where the Panda's
  shoulder (joint 2, 1.76 rad) and elbow (joint 4, -0.07 rad) reach their limits.

Every pick also takes the yaw, or its half-turn equivalent, that keeps the wrist (joint 7)
off its limit (:func:`wrist_safe_yaw`), and settles over the grip point before going down.
Everything else is the stock pick and place (``envs.experts.skills``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from envs.catalog import TABLE_TOP_Z
from envs.errors import EnvConfigError
from envs.experts.config import ExpertConfig
from envs.experts.control import GRIPPER_CLOSE, GRIPPER_OPEN, Context
from envs.experts.expert import SceneFn, ScriptedExpert
from envs.experts.geometry import wrap_angle
from envs.experts.planner import spot_in, spot_on
from envs.experts.primitives import (
    Primitive,
    close_gripper,
    descend_to,
    move_to,
    open_gripper,
    point,
    rise_to,
    transit,
)
from envs.experts.scene import Body, Scene
from envs.experts.skills import SpotFn, grasp_yaw, is_held, place

#: m: bowl centres farther than this from the robot base (xy) are taken by the near wall.
#: Measured here (table top 0.8 m, robot base 0.912 m, LIBERO's 0.66 m behind the origin):
#: a top-down grip at 2-5 cm above the table is reached up to ~0.78 m out, not at 0.80 m.
RIM_GRASP_REACH = 0.76
#: m: rim grasp: the grip site closes this far below the bowl's top (one finger inside)
RIM_GRASP_DEPTH = 0.015
#: m: after a rim grasp the bowl is lifted this much while drawn this far towards the robot
RIM_LIFT, RIM_PULL = 0.06, 0.08
#: control steps at most to settle above the grip point before descending
ALIGN_STEPS = 15
#: rad: |joint 7| allowed at a grasp (its limit is 2.8973); see ``wrist_safe_yaw``
WRIST_MARGIN = 2.6
#: m: wall thickness of the bowl stand-ins (``assets._bowl``)
BOWL_WALL = 0.005


def _xyzw(q: np.ndarray) -> np.ndarray:
    return np.array([q[1], q[2], q[3], q[0]], dtype=float)


def scene_fn(env: object) -> Scene:
    """The expert's view of a ``LiberoEnv`` now (world frame, m)."""
    u = getattr(env, "unwrapped", env)
    q, sc = u.libero_query, u.scene
    bodies, sites, scalars = {}, {}, {}
    for o in sc.objects:
        lo, hi = q.aabb(o.name)
        bodies[o.name] = Body(
            name=o.name,
            pos=(lo + hi) / 2,
            quat=_xyzw(u.data.xquat[q.body[o.name]]),
            half_size=np.asarray(o.asset.half, dtype=float),
        )
        if o.asset.container is not None:
            ix, iy, rim = o.asset.container
            floor = q.pos(o.name) + q.rot(o.name) @ np.array([0, 0, -o.asset.half[2]])
            sites[f"{o.name}:interior"] = floor
            scalars[f"{o.name}:rim_z"] = float(floor[2] + rim)
            scalars[f"{o.name}:inner_half_min"] = float(min(ix, iy))
    return Scene(bodies=bodies, sites=sites, scalars=scalars, table_z=TABLE_TOP_Z)


def expert_goal(env: object) -> tuple[tuple[str, ...], ...]:
    """LIBERO's goal atoms in the expert's naming; raises for goals it cannot run yet."""
    u = getattr(env, "unwrapped", env)
    sc = u.scene
    out = []
    for a in sc.problem.goal_atoms:
        t = sc.resolve(a.args[1]) if len(a.args) == 2 else None
        if a.head == "In" and t is not None and t.kind == "object_region":
            out.append(("In", a.args[0], t.owner))
        elif a.head == "On" and t is not None and t.kind == "object":
            out.append(("On", a.args[0], t.owner))
        else:
            raise EnvConfigError("goal atom", str(a), "In <object container> / On <object>")
    return tuple(out)


@dataclass(frozen=True)
class Grasp:
    """How to take one object: ``yaw`` (rad, None: the stock choice) and, for a rim grasp,
    ``rim_dir`` (unit xy, from the centre towards the wall to close on)."""

    yaw: float | None = None
    rim_dir: tuple[float, float] | None = None


def grasp_for(env: object, name: str) -> Grasp:
    """The grasp ``LiberoExpert`` uses for object ``name`` in the env's state now."""
    u = getattr(env, "unwrapped", env)
    sc = u.scene
    o = sc.object(name)
    t = o.support
    if t.kind == "fixture_region" and t.fixture_region is not None and t.fixture_region.joint:
        # in a drawer: fingers along the cabinet's local x (across the drawer). At top-down
        # yaw phi the fingers open along (sin phi, -cos phi), i.e. local x at phi = yaw + pi/2.
        return Grasp(yaw=sc.fixture(t.owner).yaw + np.pi / 2)
    if "container" in o.asset.tags and o.asset.half[0] == o.asset.half[1]:  # a round bowl
        base = u.data.xpos[u.model.body("robot0_base").id][:2]
        centre = u.libero_query.pos(name)[:2]
        d = base - centre
        if np.linalg.norm(d) > RIM_GRASP_REACH:
            r = d / np.linalg.norm(d)
            return Grasp(yaw=float(np.arctan2(r[0], -r[1])), rim_dir=(float(r[0]), float(r[1])))
    return Grasp()


def _grip_point(body: Body, grasp: Grasp) -> np.ndarray:
    if grasp.rim_dir is None:
        return body.pos[:2].copy()
    # the middle of the near wall: outer radius minus half the wall
    return body.pos[:2] + np.asarray(grasp.rim_dir) * (body.half_size[0] - BOWL_WALL / 2)


def _grip_z(ctx: Context, body: Body, grasp: Grasp) -> float:
    cfg = ctx.cfg
    if grasp.rim_dir is not None:
        return body.top_z - RIM_GRASP_DEPTH
    # the stock grasp height (envs.experts.skills.pick)
    z = min(body.top_z - cfg.grasp_depth, float(body.pos[2]))
    z = max(z, body.top_z - cfg.max_finger_depth)
    return max(z, ctx.scene.table_z + cfg.finger_clearance)


def wrist_safe_yaw(ctx: Context, yaw: float, target_xy: np.ndarray, base_xy: np.ndarray) -> float:
    """``yaw`` (rad) or its equivalent half a turn away (the fingers are symmetric) that keeps
    the wrist (joint 7, +-2.90 rad) inside ``WRIST_MARGIN`` at the grasp over ``target_xy``.

    Top-down, the hand's yaw moves with joint 1 (which turns to face the target from the
    base at ``base_xy``) minus joint 7, so joint 7 ends near ``q7 + d(q1) - d(yaw)``. The
    stock choice keeps the wrist turn under pi/2 from the held yaw, which from the home
    pose at the far +y side of the table ended at joint 7 = 2.90 rad, its limit
    (libero_spatial task 1, state 10): the hand stopped 2.4 cm off the bowl.
    """
    q = np.asarray(ctx.obs["joint_pos"], dtype=float)
    d = np.asarray(target_xy) - base_xy
    dq1 = wrap_angle(float(np.arctan2(d[1], d[0])) - q[0])
    now = ctx.current_yaw()
    options = [yaw + k * np.pi for k in (-2, -1, 0, 1, 2)]
    turns = [wrap_angle(y - now) for y in options]
    q7 = [q[6] + dq1 - t for t in turns]
    safe = [i for i in range(len(options)) if abs(q7[i]) <= WRIST_MARGIN]
    pool = safe or range(len(options))
    best = min(pool, key=lambda i: (abs(turns[i]), abs(q7[i])))
    return now + turns[best]


def pick_with(ctx: Context, name: str, grasp: Grasp, base_xy: np.ndarray) -> Primitive:
    """``envs.experts.skills.pick`` with the grasp's yaw and grip point and a wrist-safe yaw;
    regrasps on a failed lift check. ``base_xy``: the robot base (m, world)."""
    cfg = ctx.cfg
    for attempt in range(cfg.max_grasp_retries + 1):
        body = ctx.scene.body(name)
        yaw = grasp_yaw(ctx, body) if grasp.yaw is None else grasp.yaw
        ctx.yaw = wrist_safe_yaw(ctx, yaw, _grip_point(body, grasp), base_xy)
        approach_z = body.top_z + cfg.approach_height

        def above(c: Context, approach_z=approach_z) -> np.ndarray:
            return np.array([*_grip_point(c.scene.body(name), grasp), approach_z])

        yield from transit(ctx, above, gripper=GRIPPER_OPEN, name=f"above:{name}", ignore=(name,))
        # The fingers clear a 6.8 cm bowl by 6 mm a side: settle xy (and the wrist, which may
        # have turned ~1.3 rad on the way) before going down, or a finger lands on the rim.
        yield from move_to(
            ctx,
            above,
            gripper=GRIPPER_OPEN,
            speed=cfg.slow_speed,
            tol=cfg.fine_tolerance / 2,
            timeout=ALIGN_STEPS,
            name=f"align:{name}",
        )

        def down(c: Context) -> np.ndarray:
            b = c.scene.body(name)
            return np.array([*_grip_point(b, grasp), _grip_z(c, b, grasp)])

        yield from descend_to(
            ctx,
            down,
            gripper=GRIPPER_OPEN,
            name=f"descend:{name}",
        )
        yield from close_gripper(ctx)
        start_z = ctx.scene.body(name).pos[2]
        if grasp.rim_dir is None:
            yield from rise_to(
                ctx, ctx.eef_pos[2] + cfg.lift_height, gripper=GRIPPER_CLOSE, name=f"lift:{name}"
            )
        else:
            # Lift while drawing the bowl towards the robot: straight up at the far side of
            # the table the elbow straightens (joint 4 at its limit) and the carry crawls.
            pull = np.asarray(grasp.rim_dir) * RIM_PULL
            lift = ctx.eef_pos + np.array([pull[0], pull[1], RIM_LIFT])
            yield from move_to(
                ctx,
                point(lift),
                gripper=GRIPPER_CLOSE,
                speed=cfg.fast_speed,
                tol=cfg.pos_tolerance,
                timeout=cfg.move_timeout,
                name=f"lift:{name}",
                yaw_tol=np.inf,
            )
        if is_held(ctx, name, start_z):
            return True
        ctx.phase = f"regrasp:{name}:{attempt + 1}"
        yield from open_gripper(ctx)
    return False


def _pick_and_place(
    ctx: Context, name: str, spot: SpotFn, grasp: Grasp, base_xy: np.ndarray, attempts: int = 2
) -> Primitive:
    for _ in range(attempts):
        if not (yield from pick_with(ctx, name, grasp, base_xy)):
            continue
        if (yield from place(ctx, name, spot)):
            return True
    return False


def _plan(
    ctx: Context, goal: Sequence[Sequence[str]], grasps: dict[str, Grasp], base_xy: np.ndarray
) -> Primitive:
    for head, a, b in goal:
        spot = spot_on(b) if head == "On" else spot_in(b)
        if not (yield from _pick_and_place(ctx, a, spot, grasps[a], base_xy)):
            ctx.phase = f"failed:{head}"
            return False
    ctx.phase = "done"
    return True


class LiberoExpert(ScriptedExpert):
    """``ScriptedExpert`` on a rebuilt LIBERO env with the grasps of :func:`grasp_for`
    (PRIVILEGED state; ``scene_fn`` by default). Goals: ``expert_goal(env)`` by default."""

    def __init__(
        self, config: ExpertConfig | None = None, scene_fn: SceneFn | None = scene_fn
    ) -> None:
        super().__init__(config, scene_fn=scene_fn)

    def reset(self, env: object, goal: Sequence[Sequence[str]] | None = None) -> None:
        """Bind to ``env`` (after ``env.reset``) and plan ``goal`` (default ``expert_goal``)."""
        super().reset(env, goal=goal if goal is not None else expert_goal(env))
        grasps = {a: grasp_for(env, a) for _, a, _ in self.goal}
        u = getattr(env, "unwrapped", env)
        base_xy = u.data.xpos[u.model.body("robot0_base").id][:2].copy()
        self._plan = _plan(self._ctx, self.goal, grasps, base_xy)
