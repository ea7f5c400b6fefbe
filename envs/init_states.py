"""Fixed initial states: deterministic sampling, validation, storage and loading.

Every (suite, task, index) gets its own ``numpy.random.Generator`` seeded from a CRC32
of its name, so the 50 states of a task never depend on other tasks or on call order.
A state is the flattened MuJoCo ``[qpos, qvel]`` after the objects settled with the
robot pinned at its home pose; they are stored as ``envs/init_states/<suite>/<task>.npz``
(regenerate with ``python experiments/make_init_states.py``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from core.bounded_io import read_npz
from envs import catalog
from envs.errors import EnvConfigError
from envs.scene import SceneQuery
from envs.sim_env import TaskSimEnv
from envs.spec import TaskSpec

log = logging.getLogger(__name__)

INIT_DIR = Path(__file__).parent / "init_states"
N_INIT_STATES = 50


@dataclass(frozen=True)
class SamplerConfig:
    """Placement sampling knobs. Lengths in m, durations in physics substeps (2 ms)."""

    settle_substeps: int = 150
    max_tries: int = 500
    margin: float = 0.012  # clearance between footprints
    drop_height: float = 0.003  # objects start this far above the table
    max_drift: float = 0.015  # reject a state if an object moved this much while settling
    max_speed: float = 0.05  # m/s after settling


def task_seed(suite: str, task: str, index: int) -> int:
    """Stable 32-bit seed of one init state."""
    return zlib.crc32(f"{suite}/{task}/{index}".encode())


def init_state_path(task: TaskSpec) -> Path:
    return INIT_DIR / task.suite / f"{task.name}.npz"


def model_signature(sim: TaskSimEnv) -> str:
    """Short hash of the state layout (joint names and sizes) an init state file fits."""
    m = sim.sim.model._model
    names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, j) or "" for j in range(m.njnt)]
    text = f"{m.nq},{m.nv}," + ",".join(names)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class InitStateSampler:
    """Samples valid initial states of one task on a live TaskSimEnv."""

    def __init__(self, sim: TaskSimEnv, query: SceneQuery, cfg: SamplerConfig | None = None):
        self.sim, self.q, self.cfg = sim, query, cfg or SamplerConfig()
        self.m, self.d = sim.sim.model._model, sim.sim.data._data
        self.task = sim.task
        self._local_box = self._object_local_boxes()
        self._fixture_boxes = self._fixture_footprints()

    def _object_local_boxes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        boxes = {}
        for o in self.task.objects:
            adr = self.m.joint(self.sim.free_joint_name(o.name)).qposadr[0]
            self.d.qpos[adr : adr + 7] = [0, 0, 2, 1, 0, 0, 0]
        mujoco.mj_kinematics(self.m, self.d)
        for o in self.task.objects:
            lo, hi = self.q.aabb(o.name)
            boxes[o.name] = (lo - [0, 0, 2], hi - [0, 0, 2])
        return boxes

    def _fixture_footprints(self) -> list[tuple[np.ndarray, np.ndarray]]:
        mujoco.mj_kinematics(self.m, self.d)
        used = {a for pred in self.task.goal for a in pred[1:]}
        out = []
        for f in self.task.fixtures:
            root = self.m.body(f"{f.name}_main").id
            lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
            for g in range(self.m.ngeom):
                if self.q._in_subtree(self.m.geom_bodyid[g], root):
                    glo, ghi = self.q.geom_aabb(g)
                    lo, hi = np.minimum(lo, glo), np.maximum(hi, ghi)
            if f.kind == "cabinet" and f.name in used:
                # keep the lane clear where the drawer comes out (towards -x)
                lo[0] -= catalog.DRAWER_TRAVEL
            out.append((lo[:2], hi[:2]))
        return out

    def _radius(self, name: str) -> float:
        lo, hi = self._local_box[name]
        return float(np.linalg.norm(np.maximum(np.abs(lo[:2]), np.abs(hi[:2]))))

    def _propose(self, rng: np.random.Generator) -> list[tuple[str, np.ndarray]] | str:
        """Poses for every object, or the name of the object that found no free spot."""
        placed: list[tuple[np.ndarray, float]] = []
        poses = []
        for o in self.task.objects:
            reg = self.task.region(o.region)
            r = self._radius(o.name)
            for _ in range(50):
                xy = np.array(reg.center) + rng.uniform(-1, 1, 2) * np.array(reg.half_size)
                if any(np.linalg.norm(xy - p) < r + pr + self.cfg.margin for p, pr in placed):
                    continue
                if any(
                    np.all(xy + r + self.cfg.margin > lo) and np.all(xy - r - self.cfg.margin < hi)
                    for lo, hi in self._fixture_boxes
                ):
                    continue
                break
            else:
                return o.name
            yaw = rng.uniform(*o.yaw_range)
            z = catalog.TABLE_TOP_Z - self._local_box[o.name][0][2] + self.cfg.drop_height
            quat = [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]
            placed.append((xy, r))
            poses.append((o.name, np.array([xy[0], xy[1], z, *quat])))
        return poses

    def sample(self, index: int) -> np.ndarray:
        """The flattened ``[qpos, qvel]`` of init state ``index`` (float64)."""
        rng = np.random.default_rng(task_seed(self.task.suite, self.task.name, index))
        self.sim.reset()
        base_qpos = self.d.qpos.copy()
        robot_q = self.sim.robot_qpos_idx
        robot_v = self.sim.robot_qvel_idx
        failures: dict[str, int] = {}
        for _ in range(self.cfg.max_tries):
            poses = self._propose(rng)
            if isinstance(poses, str):
                failures[poses] = failures.get(poses, 0) + 1
                continue
            mujoco.mj_resetData(self.m, self.d)
            self.d.qpos[:] = base_qpos
            for name, pose in poses:
                adr = self.m.joint(self.sim.free_joint_name(name)).qposadr[0]
                self.d.qpos[adr : adr + 7] = pose
            for f in self.task.fixtures:
                for key, value in f.init:
                    joint = {"opening": f"{f.name}_slide", "button": f"{f.name}_button"}[key]
                    self.d.qpos[self.m.joint(joint).qposadr[0]] = (
                        value if key == "opening" else -value
                    )
            mujoco.mj_forward(self.m, self.d)
            start = {n: self.q.body_pos(n) for n, _ in poses}
            for _ in range(self.cfg.settle_substeps):
                mujoco.mj_step(self.m, self.d)
                self.d.qpos[robot_q] = base_qpos[robot_q]
                self.d.qvel[robot_v] = 0
            ok = True
            for name, _ in poses:
                drift = np.linalg.norm(self.q.body_pos(name) - start[name])
                bid = self.q.root[name]
                speed = np.linalg.norm(self.d.cvel[bid][3:])
                if drift > self.cfg.max_drift or speed > self.cfg.max_speed:
                    ok = False
                    failures[f"{name} unsettled"] = failures.get(f"{name} unsettled", 0) + 1
            if ok:
                self.d.qvel[:] = 0
                return np.concatenate([self.d.qpos, self.d.qvel]).astype(np.float64)
        raise RuntimeError(
            f"{self.task.gym_id}: no valid init state {index} in {self.cfg.max_tries} tries; failures: {failures}"
        )


def save_init_states(path: Path, states: np.ndarray, signature: str) -> str:
    """Write states and return their sha256 (of the raw float64 bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(np.ascontiguousarray(states).tobytes()).hexdigest()
    np.savez_compressed(path, states=states, signature=np.array(signature), sha256=np.array(digest))
    return digest


def load_init_states(task: TaskSpec, signature: str) -> np.ndarray:
    """Load a task's stored states, checking layout and checksum (allow_pickle is off)."""
    path = init_state_path(task)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} missing; run `python experiments/make_init_states.py --suite {task.suite}`"
        )
    z = read_npz(path, ("states", "signature", "sha256"))  # sizes checked before allocation
    states = z["states"]
    if str(z["signature"]) != signature:
        raise RuntimeError(
            f"{path} was made for another model layout ({z['signature']} != {signature}); regenerate it"
        )
    digest = hashlib.sha256(np.ascontiguousarray(states).tobytes()).hexdigest()
    if digest != str(z["sha256"]):
        raise RuntimeError(f"{path}: checksum mismatch, file corrupted")
    return states


def check_index(index: object, n: int) -> int:
    if (
        isinstance(index, bool)
        or not isinstance(index, (int, np.integer))
        or not 0 <= int(index) < n
    ):
        raise EnvConfigError("options['init_state']", index, f"integers 0..{n - 1}")
    return int(index)
