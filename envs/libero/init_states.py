"""Initial states of LIBERO scenes: LIBERO's own 50 per task, mapped onto our model.

Mapping (libero_object): LIBERO's ``.pruned_init`` rows are robosuite 1.4 flattened states
``[time, qpos (58), qvel (51)]`` of a model whose joints are the Panda's 7 arm + 2 finger
joints followed by one free joint per BDDL object in declaration order; ours has the same
layout (nq 58, nv 51). LIBERO's rows are unsettled placements (qvel 0, z at a nominal
height, a fixed per-type orientation that is the mesh's upright pose). We take, per row,
the 9 robot joint angles (LIBERO's home pose plus its ~0.02 rad joint noise) and each
object's (x, y) (same workspace frame as our table frame); z is our stand-in's half height
above the surface, yaw 0 (LIBERO's orientations do not vary in these files), then the
objects settle for ``settle_substeps`` with the robot pinned and every velocity is zeroed.
The mapped (x, y, robot) arrays are stored in ``envs/libero/init_states/<suite>/<task>.npz``
(a few kB per task) with the sha256 of LIBERO's source file.

Tasks without a mapped file get states sampled in their BDDL regions (uniform (x, y) in the
range, yaw in ``:yaw_rotation`` or 0), seeded by CRC32 of ``suite/task/index``.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Sequence
from pathlib import Path

import mujoco
import numpy as np

from envs.catalog import TABLE_TOP_Z
from envs.errors import EnvConfigError
from envs.libero.scene import WORKSPACES, LiberoScene

MAPPED_DIR = Path(__file__).parent / "init_states"
N_INIT_STATES = 50
SETTLE_SUBSTEPS = 150  # 0.3 s at the 2 ms model timestep
DROP_HEIGHT = 0.002  # m above the surface
N_ROBOT_Q = 9  # 7 arm + 2 finger joints, LIBERO's and ours


def mapped_path(suite: str, task: str) -> Path:
    return MAPPED_DIR / suite / f"{task}.npz"


def read_libero_init_file(path: str | Path) -> np.ndarray:
    """LIBERO's ``.init`` / ``.pruned_init`` (a torch-pickled float64 array) without running
    arbitrary pickle code: ``torch.load(weights_only=True)`` allowing only numpy arrays."""
    import torch  # only this dev-time reader needs torch
    from numpy.core.multiarray import _reconstruct

    allowed = [_reconstruct, np.ndarray, np.dtype, type(np.dtype("float64"))]
    with torch.serialization.safe_globals(allowed):
        arr = torch.load(str(path), weights_only=True)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2:
        raise EnvConfigError("LIBERO init file", str(path), "a 2-D [N, 1 + nq + nv] array")
    return arr


def map_libero_states(states: np.ndarray, scene: LiberoScene, source: str = "") -> dict:
    """LIBERO rows -> ``{"robot_qpos": [N, 9], "object_xy": [N, n_obj, 2], "fixture_q":
    [N, n_joints] (ours: drawer opening m, knob rad), ...}``."""
    n_obj = len(scene.objects)
    fj = [j for f in scene.fixtures for j in f.asset.joints]
    nq, nv = N_ROBOT_Q + 7 * n_obj + len(fj), N_ROBOT_Q + 6 * n_obj + len(fj)
    if states.shape[1] != 1 + nq + nv:
        raise EnvConfigError(
            "LIBERO init state width",
            states.shape[1],
            f"1 + nq + nv = {1 + nq + nv} for {n_obj} free objects, {len(fj)} fixture joints "
            "and the Panda",
        )
    qpos = states[:, 1 : 1 + nq]
    xy = np.stack([qpos[:, N_ROBOT_Q + 7 * i : N_ROBOT_Q + 7 * i + 2] for i in range(n_obj)], 1)
    # LIBERO's world -> our workspace frame (the study table's origin is at LIBERO x = -0.2)
    xy = xy - np.array(WORKSPACES[scene.workspace].libero_origin_xy)
    fq = qpos[:, N_ROBOT_Q + 7 * n_obj :] * np.array([j.libero_scale for j in fj])
    return {
        "robot_qpos": qpos[:, :N_ROBOT_Q].copy(),
        "object_xy": xy.copy(),
        "fixture_q": fq.reshape(len(states), len(fj)).copy(),
        "object_names": np.array([o.name for o in scene.objects]),
        "source_sha256": np.array(source),
    }


def write_mapped(suite: str, task: str, libero_file: str | Path, scene: LiberoScene) -> Path:
    """Map one LIBERO init file and store it under ``MAPPED_DIR`` (dev-time tool)."""
    raw = Path(libero_file).read_bytes()
    mapped = map_libero_states(
        read_libero_init_file(libero_file), scene, hashlib.sha256(raw).hexdigest()
    )
    out = mapped_path(suite, task)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **mapped)
    return out


def _yaw_quat(yaw: float) -> np.ndarray:
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])


class InitStates(Sequence):
    """The 50 init states of a scene, computed on first use on a scratch MjData.

    Each item is a flattened ``[qpos, qvel]`` (float64) for the live model; computing it
    never touches the live MjData, so the first observation after ``set_init_state(i)``
    does not depend on which states were computed before.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        home_qpos: np.ndarray,
        scene: LiberoScene,
        robot_q_idx: np.ndarray,
        robot_v_idx: np.ndarray,
    ):
        self.m, self.home, self.scene = model, home_qpos.copy(), scene
        self.robot_q_idx = np.asarray(robot_q_idx)
        self.robot_v_idx = np.asarray(robot_v_idx)
        self.free_adr = {
            o.name: int(model.joint(f"{o.name}_joint0").qposadr[0]) for o in scene.objects
        }
        self.free_dof = {
            o.name: int(model.joint(f"{o.name}_joint0").dofadr[0]) for o in scene.objects
        }
        self.fixture_q_adr = [
            (int(model.joint(f"{f.name}_{j.suffix}").qposadr[0]), f.name, j)
            for f in scene.fixtures
            for j in f.asset.joints
        ]
        self.mapped: dict | None = None
        p = mapped_path(scene.suite, scene.name)
        if p.exists():
            with np.load(p, allow_pickle=False) as z:
                names = [str(n) for n in z["object_names"]]
                if names != [o.name for o in scene.objects]:
                    raise EnvConfigError("mapped init states", str(p), f"objects {names}")
                self.mapped = {k: z[k] for k in ("robot_qpos", "object_xy", "fixture_q")}
        self.source = "libero" if self.mapped is not None else "sampled"
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return N_INIT_STATES if self.mapped is None else len(self.mapped["robot_qpos"])

    def __getitem__(self, index):  # type: ignore[override]
        if not isinstance(index, int) or not 0 <= index < len(self):
            raise IndexError(index)
        if index not in self._cache:
            self._cache[index] = self._compute(index)
        return self._cache[index]

    def _robot_and_xy(self, index: int) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
        """Robot joints and, per object, (x, y, yaw) for workspace-supported objects."""
        if self.mapped is not None:
            robot = self.mapped["robot_qpos"][index]
            xy = self.mapped["object_xy"][index]
            return robot, [(float(x), float(y), 0.0) for x, y in xy]
        seed = zlib.crc32(f"{self.scene.suite}/{self.scene.name}/{index}".encode())
        rng = np.random.default_rng(seed)
        out: list[tuple[float, float, float]] = []
        # x, y, radius; fixtures first (a circle inside their footprint: regions next to a
        # fixture are meant to be close to it)
        placed: list[tuple[float, float, float]] = [
            (f.pos[0], f.pos[1], min(f.asset.footprint)) for f in self.scene.fixtures
        ]
        for o in self.scene.objects:
            r = o.region
            if r is None:
                out.append((0.0, 0.0, 0.0))
                continue
            x0, y0, x1, y1 = r.ranges[0]
            lo, hi = r.yaw_rotation or (0.0, 0.0)
            rad = o.asset.footprint_radius
            for _ in range(200):
                x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
                if all(math.hypot(x - px, y - py) > rad + pr for px, py, pr in placed):
                    break
            placed.append((x, y, rad))
            out.append((float(x), float(y), float(rng.uniform(lo, hi)) if hi > lo else lo))
        return self.home[self.robot_q_idx], out

    def _compute(self, index: int) -> np.ndarray:
        m, sc = self.m, self.scene
        d = mujoco.MjData(m)
        d.qpos[:] = self.home
        robot, poses = self._robot_and_xy(index)
        d.qpos[self.robot_q_idx] = robot
        init_joints = {(f, j): v for f, j, v in sc.init_joints}
        for k, (adr, owner, j) in enumerate(self.fixture_q_adr):
            if self.mapped is not None:
                d.qpos[adr] = self.mapped["fixture_q"][index, k]
            else:
                d.qpos[adr] = init_joints.get((owner, j.suffix), 0.0)
        mujoco.mj_kinematics(m, d)
        pose = dict(zip([o.name for o in sc.objects], poses, strict=True))
        for o in _support_order(sc):
            x, y, yaw = pose[o.name]
            t = o.support
            if t.kind == "workspace":
                z = TABLE_TOP_Z
            elif t.kind == "fixture_region":
                fr = t.fixture_region
                body = f"{t.owner}_{fr.body}" if fr.body else f"{t.owner}_main"
                bid = m.body(body).id
                c = d.xpos[bid] + d.xmat[bid].reshape(3, 3) @ np.array(fr.center)
                x, y, z = float(c[0]), float(c[1]), float(c[2])
            else:  # on another object, already placed
                a = self.free_adr[t.owner]
                sup = sc.object(t.owner).asset
                x, y = float(d.qpos[a]), float(d.qpos[a + 1])
                z = float(d.qpos[a + 2]) + sup.half[2]
            a = self.free_adr[o.name]
            d.qpos[a : a + 3] = (x, y, z + o.asset.half[2] + DROP_HEIGHT)
            d.qpos[a + 3 : a + 7] = _yaw_quat(yaw)
        q_robot = d.qpos[self.robot_q_idx].copy()
        for _ in range(SETTLE_SUBSTEPS):
            mujoco.mj_step(m, d)
            d.qpos[self.robot_q_idx] = q_robot
            d.qvel[self.robot_v_idx] = 0.0
        d.qvel[:] = 0.0
        return np.concatenate([d.qpos, d.qvel]).astype(np.float64)


def _support_order(scene: LiberoScene) -> list:
    """Objects ordered so that every object comes after the object it stands on."""
    out, seen = [], set()

    def visit(o, depth=0):
        if o.name in seen:
            return
        if depth > len(scene.objects):
            raise EnvConfigError("init placement", o.name, "an acyclic On chain")
        if o.support.kind == "object":
            visit(scene.object(o.support.owner), depth + 1)
        seen.add(o.name)
        out.append(o)

    for o in scene.objects:
        visit(o)
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m envs.libero.init_states <LIBERO init_files dir> [suite ...]``: map LIBERO's
    ``.pruned_init`` files of the vendored suites whose scenes we build."""
    import argparse

    from envs.libero import files
    from envs.libero.bddl import load_problem
    from envs.libero.scene import build_problems, scene_from_problem

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("init_files", help="LIBERO's init_files folder (e.g. from the hf-libero wheel)")
    ap.add_argument("suites", nargs="*", default=list(files.VENDORED_SUITES))
    args = ap.parse_args(argv)
    for suite in args.suites:
        for task in files.task_names(suite):
            problem = load_problem(files.bddl_path(suite, task))
            src = Path(args.init_files) / suite / f"{task}.pruned_init"
            if build_problems(problem) or not src.exists():
                continue
            print(write_mapped(suite, task, src, scene_from_problem(problem, suite)))


if __name__ == "__main__":
    main()
