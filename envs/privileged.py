"""Privileged state for scripted experts (never an input of a learned policy)."""

from __future__ import annotations

from typing import Any, Protocol

import mujoco
import numpy as np

from envs import catalog
from envs.scene import SceneQuery
from envs.sim_env import TaskSimEnv
from envs.spec import TaskSpec


class PrivilegedSource(Protocol):
    """What :func:`privileged_state` reads from an env (``LiberoLikeEnv`` has all of it).

    A protocol, not the env class, so that ``gym_env`` can import this module at top level.
    """

    query: SceneQuery
    task: TaskSpec
    sim: TaskSimEnv
    data: mujoco.MjData

    def goal_status(self) -> Any: ...


def privileged_state(env: PrivilegedSource) -> dict:
    """Objects, fixtures, regions and gripper; positions m (world frame), quats wxyz."""
    q, task = env.query, env.task
    out: dict = {"objects": {}, "fixtures": {}, "regions": {}}
    for o in task.objects:
        lo, hi = q.aabb(o.name)
        out["objects"][o.name] = {
            "kind": o.kind,
            "pos": q.body_pos(o.name),
            "quat": q.body_quat_wxyz(o.name),
            "center": (lo + hi) / 2,
            "half_size": (hi - lo) / 2,
            "top_z": float(hi[2]),
            "bottom_z": float(lo[2]),
        }
    for f in task.fixtures:
        pos, rot = q.fixture_frame(f.name)
        info: dict = {"kind": f.kind, "pos": pos, "yaw": f.yaw}
        if f.kind == "basket":
            box = q.container(f.name)
            info.update(
                center=box["center"], inner_half_size=box["inner_half_size"], rim_z=box["rim_z"]
            )
        elif f.kind == "cabinet":
            box = q.container(f.name)
            info.update(
                handle_pos=q.site(f"{f.name}_handle_site"),
                pull_direction=-rot[:, 0],
                opening=q.drawer_opening(f.name),
                travel=catalog.DRAWER_TRAVEL,
                open_threshold=catalog.DRAWER_OPEN_THRESHOLD,
                closed_threshold=catalog.DRAWER_CLOSED_THRESHOLD,
                is_open=q.drawer_opening(f.name) >= catalog.DRAWER_OPEN_THRESHOLD,
                inner_center=box["center"],
                inner_half_size=box["inner_half_size"],
                rim_z=box["rim_z"],
            )
        elif f.kind == "stove":
            depth = q.button_depth(f.name)
            c, _, top = q.surface_top(f.name)
            info.update(
                button_pos=q.site(f"{f.name}_button_site"),
                button_depth=depth,
                button_travel=catalog.BUTTON_TRAVEL,
                on_threshold=catalog.BUTTON_ON_THRESHOLD,
                is_on=depth >= catalog.BUTTON_ON_THRESHOLD,
                burner_pos=c,
                surface_z=top,
            )
        out["fixtures"][f.name] = info
    for r in task.regions:
        out["regions"][r.name] = {
            "center": np.array([r.center[0], r.center[1], catalog.TABLE_TOP_Z]),
            "half_size": np.array(r.half_size),
        }
    s = env.sim
    out["eef_pos"] = env.data.site_xpos[s.eef_site_id].copy()
    out["eef_quat"] = env.data.xquat[s.eef_body_id].copy()
    out["gripper_opening"] = q.gripper_opening(s.gripper_qpos_idx)
    out["goal"] = env.goal_status()
    out["table_z"] = catalog.TABLE_TOP_Z
    return out
