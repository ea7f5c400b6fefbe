"""Build a :class:`Scene` from a stock robosuite environment (Lift, PickPlace...).

Used to develop and test the primitives on robosuite's own tasks, independent of
this project's suites.
"""

from __future__ import annotations

import numpy as np

from envs.experts.scene import Body, Scene


def _body_from_object(env, obj, name: str) -> Body:
    body_id = env.sim.model.body_name2id(obj.root_body)
    pos = np.array(env.sim.data.body_xpos[body_id])
    wxyz = np.array(env.sim.data.body_xquat[body_id])
    quat = np.array([wxyz[1], wxyz[2], wxyz[3], wxyz[0]])
    top, bottom = float(obj.top_offset[2]), float(obj.bottom_offset[2])
    radius = float(obj.horizontal_radius)
    if hasattr(obj, "size") and obj.size is not None and len(obj.size) == 3:
        half = np.array(obj.size, dtype=float)
    else:
        half = np.array([radius, radius, (top - bottom) / 2.0])
    # Shift to the bounding-box centre (the body origin may sit off-centre in z).
    pos = pos + np.array([0.0, 0.0, (top + bottom) / 2.0])
    return Body(name=name, pos=pos, quat=quat, half_size=half)


def scene_from_robosuite(env, objects: dict[str, object] | None = None) -> Scene:
    """Snapshot a robosuite manipulation env.

    Args:
        env: a ``robosuite`` environment after ``reset()``.
        objects: name -> robosuite ``MujocoObject``; defaults to ``env.cube`` for Lift and
            ``env.objects`` for PickPlace.
    """
    if objects is None:
        objects = {}
        if hasattr(env, "cube"):
            objects["cube"] = env.cube
        if hasattr(env, "object_id") and getattr(env, "single_object_mode", 0) in (1, 2):
            obj = env.objects[env.object_id]
            objects[obj.name] = obj
        else:
            for obj in getattr(env, "objects", []) or []:
                objects[obj.name] = obj
    bodies = {name: _body_from_object(env, obj, name) for name, obj in objects.items()}
    arena = env.model.mujoco_arena
    table_z = float(arena.table_offset[2]) if hasattr(arena, "table_offset") else 0.0
    sites: dict[str, np.ndarray] = {}
    if hasattr(env, "target_bin_placements"):
        for i, placement in enumerate(env.target_bin_placements):
            sites[f"bin_{i}"] = np.array(placement)
        table_z = float(env.bin1_pos[2])
    return Scene(bodies=bodies, sites=sites, table_z=table_z)
