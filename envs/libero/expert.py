"""Bridges from a rebuilt LIBERO env to ``envs.experts.ScriptedExpert`` (PRIVILEGED state).

``scene_fn(env)`` gives the expert's :class:`~envs.experts.scene.Scene` (object poses and
their own half sizes, container interiors as ``<name>:interior`` + ``<name>:rim_z``) and
``expert_goal(env)`` translates LIBERO's goal into the expert's predicate names:
``(In a basket_1_contain_region)`` -> ``("In", a, "basket_1")``, ``(On a b)`` with b an
object -> ``("On", a, b)``. Only these pick-and-place goals are translated so far.
"""

from __future__ import annotations

import numpy as np

from envs.catalog import TABLE_TOP_Z
from envs.errors import EnvConfigError
from envs.experts.scene import Body, Scene


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
