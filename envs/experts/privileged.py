"""Scene adapter for this project's suites: ``env.privileged_state()`` -> :class:`Scene`.

The privileged state gives world-axis-aligned boxes; grasp yaw needs the object's own
extents, so those are computed once per object from the collision geoms in the object's
body frame (constant over an episode) when the env exposes its ``query``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from envs.experts.scene import Body, Scene

_SIGNS = np.array(
    [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64
)


def _wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    return np.array([q[1], q[2], q[3], q[0]])


def local_half_sizes(env: object) -> dict[str, np.ndarray]:
    """Half extents (m) of every object's collision geoms in its own body frame.

    Reads ``env.query`` (model, data, object geoms, root bodies); empty when absent.
    """
    q = getattr(env, "query", None)
    if q is None:
        return {}
    m, d = q.m, q.d
    out = {}
    for name, geoms in q.obj_geoms.items():
        bid = q.root[name]
        p_body = d.xpos[bid]
        r_body = d.xmat[bid].reshape(3, 3)
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for g in geoms:
            box = m.geom_aabb[g]
            corners = box[:3] + _SIGNS * box[3:]
            world = d.geom_xpos[g] + corners @ d.geom_xmat[g].reshape(3, 3).T
            local = (world - p_body) @ r_body
            lo, hi = np.minimum(lo, local.min(axis=0)), np.maximum(hi, local.max(axis=0))
        out[name] = (hi - lo) / 2.0
    return out


def fixture_geoms(env: object) -> dict[str, np.ndarray]:
    """Collision geom ids of every fixture (its whole body subtree), from ``env.query``."""
    q = getattr(env, "query", None)
    task = getattr(env, "task", None)
    if q is None or task is None:
        return {}
    m = q.m
    out = {}
    for f in task.fixtures:
        try:
            root = m.body(f"{f.name}_main").id
        except KeyError:
            continue
        geoms = [
            g
            for g in range(m.ngeom)
            if q._in_subtree(m.geom_bodyid[g], root)
            and (m.geom_contype[g] or m.geom_conaffinity[g])
        ]
        out[f.name] = np.array(geoms, dtype=int)
    return out


def geom_boxes(
    env: object, geoms: Mapping[str, np.ndarray]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """World-axis-aligned box ``(lo, hi)`` (m) around each named group of geoms, now."""
    q = env.query
    m, d = q.m, q.d
    out = {}
    for name, ids in geoms.items():
        if len(ids) == 0:
            continue
        aabb = m.geom_aabb[ids]  # (n, 6): centre (3), half size (3), geom frame
        rot = d.geom_xmat[ids].reshape(-1, 3, 3)
        centre = d.geom_xpos[ids] + np.einsum("nij,nj->ni", rot, aabb[:, :3])
        half = np.einsum("nij,nj->ni", np.abs(rot), aabb[:, 3:])
        out[name] = ((centre - half).min(axis=0), (centre + half).max(axis=0))
    return out


def scene_from_privileged(
    state: Mapping,
    local_half: Mapping[str, np.ndarray] | None = None,
    obstacles: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Scene:
    """Translate ``privileged_state()`` into the expert's :class:`Scene` naming.

    Naming: objects by name; ``<basket>:interior`` + scalar ``<basket>:rim_z``;
    ``<cabinet>:handle``, vector ``<cabinet>:pull``, joint ``<cabinet>`` (opening, m),
    scalars ``<cabinet>:open_threshold`` / ``:closed_threshold``, ``<cabinet>:interior``
    + ``:rim_z``; ``<stove>:button`` (button top), ``<stove>:top`` (burner surface),
    joint ``<stove>`` (button depth, m), scalar ``<stove>:on_threshold``;
    ``region:<name>`` (region centre on the table).
    """
    local_half = local_half or {}
    bodies = {}
    for name, o in state["objects"].items():
        aabb_half = np.asarray(o["half_size"], dtype=float)
        quat = _wxyz_to_xyzw(o["quat"])
        if name in local_half:
            half = np.asarray(local_half[name], dtype=float)
        else:
            # Without local extents, treat the world box as the object's own (yaw lost).
            half, quat = aabb_half, np.array([0.0, 0.0, 0.0, 1.0])
        bodies[name] = Body(
            name=name, pos=np.asarray(o["center"], dtype=float), quat=quat, half_size=half
        )
    sites: dict[str, np.ndarray] = {}
    vectors: dict[str, np.ndarray] = {}
    joints: dict[str, float] = {}
    scalars: dict[str, float] = {}
    for name, f in state["fixtures"].items():
        kind = f["kind"]
        if kind == "basket":
            sites[f"{name}:interior"] = np.asarray(f["center"], dtype=float)
            scalars[f"{name}:rim_z"] = float(f["rim_z"])
            scalars[f"{name}:inner_half_min"] = float(np.min(f["inner_half_size"]))
        elif kind == "cabinet":
            sites[f"{name}:handle"] = np.asarray(f["handle_pos"], dtype=float)
            vectors[f"{name}:pull"] = np.asarray(f["pull_direction"], dtype=float)
            joints[name] = float(f["opening"])
            scalars[f"{name}:open_threshold"] = float(f["open_threshold"])
            scalars[f"{name}:closed_threshold"] = float(f["closed_threshold"])
            scalars[f"{name}:travel"] = float(f["travel"])
            sites[f"{name}:interior"] = np.asarray(f["inner_center"], dtype=float)
            scalars[f"{name}:rim_z"] = float(f["rim_z"])
            scalars[f"{name}:inner_half_min"] = float(np.min(f["inner_half_size"]))
        elif kind == "stove":
            sites[f"{name}:button"] = np.asarray(f["button_pos"], dtype=float)
            burner = np.asarray(f["burner_pos"], dtype=float).copy()
            burner[2] = float(f["surface_z"])
            sites[f"{name}:top"] = burner
            joints[name] = float(f["button_depth"])
            scalars[f"{name}:on_threshold"] = float(f["on_threshold"])
            scalars[f"{name}:button_travel"] = float(f["button_travel"])
    for name, r in state.get("regions", {}).items():
        sites[f"region:{name}"] = np.asarray(r["center"], dtype=float)
        scalars[f"region:{name}:half_min"] = float(np.min(r["half_size"]))
    return Scene(
        bodies=bodies,
        sites=sites,
        vectors=vectors,
        joints=joints,
        scalars=scalars,
        table_z=float(state.get("table_z", 0.0)),
        obstacles=dict(obstacles or {}),
    )


class PrivilegedSceneReader:
    """Callable ``env -> Scene`` for this project's envs, caching local object extents."""

    def __init__(self) -> None:
        self._local: dict[str, np.ndarray] | None = None
        self._fixture_geoms: dict[str, np.ndarray] = {}
        self._env_id: int | None = None

    def __call__(self, env: object) -> Scene:
        inner = getattr(env, "unwrapped", env)
        if self._local is None or self._env_id != id(inner):
            self._local = local_half_sizes(inner)
            self._fixture_geoms = fixture_geoms(inner)
            self._env_id = id(inner)
        boxes = geom_boxes(inner, self._fixture_geoms) if self._fixture_geoms else {}
        return scene_from_privileged(inner.privileged_state(), self._local, boxes)
