"""From a parsed BDDL problem to a scene we can build: objects, their assets and init regions.

Frames: LIBERO's region ranges are in the frame of the region's target. For the workspace
targets (``floor``, ``table``/``main_table``) that is our table frame (origin at the centre
of the table top, x away from the robot, z up), so ranges are used as they are.

``libero_object``'s floor scene is built on our table (top at ``TABLE_TOP_Z``): LIBERO stands
its Panda on the ground 0.6 m behind the workspace origin; ours stands at the same distance
(``robot_x``) on robosuite's table mount, so objects sit about 11 cm below the robot base
instead of at its height. The agentview camera is LIBERO's floor-scene camera, raised by
the table height.
"""

from __future__ import annotations

from dataclasses import dataclass

from envs.libero import files
from envs.libero.assets import OBJECT_ASSETS, WORKSPACE_FIXTURES, ObjectAsset
from envs.libero.bddl import Atom, Problem, Region, is_conjunction, load_problem
from envs.libero.fixtures import FIXTURE_ASSETS, FixtureAsset, FixtureJoint, FixtureRegion

#: LIBERO benchmark evaluation episode limits (OpenVLA / openpi convention), control steps
EPISODE_LIMITS: dict[str, int] = {
    "libero_spatial": 220,
    "libero_object": 280,
    "libero_goal": 300,
    "libero_10": 520,
    "libero_90": 400,
}
#: goal predicates evaluated from simulator state by ``envs.libero.predicates``
SUPPORTED_GOAL_PREDICATES = ("In", "On", "Up", "Open", "Close", "TurnOn", "TurnOff")
_FLOOR_QUAT = (0.6182167, 0.3432308, 0.3432314, 0.6182177)
_TABLE_QUAT = (0.6380178, 0.3048497, 0.3048499, 0.6380178)
#: LIBERO's agentview camera per workspace: pos (m, relative to the workspace origin on
#: its surface) and quat wxyz, from LIBERO's problem classes minus their table offsets
CAMERAS = {
    "floor": ((0.8965773716836134, 0.0, 0.65), _FLOOR_QUAT),
    "table": ((0.6586131746834771, 0.0, 0.7103500240372423), _TABLE_QUAT),  # top at 0.9 m
    "kitchen_table": ((0.6586131746834771, 0.0, 0.7103500240372423), _TABLE_QUAT),
    "living_room_table": ((0.6065773716836134, 0.0, 0.55), _FLOOR_QUAT),  # top at 0.41 m
    "study_table": ((0.6586131746834771, 0.0, 0.7433500240372423), _TABLE_QUAT),  # origin x -0.2
}


@dataclass(frozen=True)
class Workspace:
    """Our table standing in for a LIBERO workspace. ``robot_x``: the robot base (m) along
    x from the workspace origin; ``libero_origin_xy``: where LIBERO's world puts that origin
    (its init states are in LIBERO world coordinates)."""

    table_full_size: tuple[float, float, float]
    robot_x: float
    libero_origin_xy: tuple[float, float] = (0.0, 0.0)


#: LIBERO's table sizes and robot offsets (robosuite: base at -0.16 - length / 2; LIBERO's
#: study scene: -0.25 - length / 2 with the table origin at x = -0.2)
WORKSPACES = {
    "floor": Workspace((0.88, 1.2, 0.05), -0.6),
    "table": Workspace((1.0, 1.2, 0.05), -0.66),
    "kitchen_table": Workspace((1.0, 1.2, 0.05), -0.66),
    "living_room_table": Workspace((0.70, 1.6, 0.05), -0.51),
    "study_table": Workspace((1.0, 1.2, 0.05), -0.55, (-0.2, 0.0)),
}
#: LIBERO's Panda home joint angles (rad), MountedPanda / OnTheGroundPanda
LIBERO_HOME_QPOS = (0.0, -0.161037389, 0.0, -2.44459747, 0.0, 2.2267522, 0.7853981633974483)


@dataclass(frozen=True)
class Target:
    """What a predicate argument names. ``kind``: workspace (a table/floor region), object,
    object_region (e.g. basket_1_contain_region), fixture, fixture_region."""

    kind: str
    owner: str = ""  # object / fixture name
    region: Region | None = None
    fixture_region: FixtureRegion | None = None
    owner_kind: str = ""  # the owner's BDDL type


@dataclass(frozen=True)
class SceneObject:
    """A movable object: its asset and what it starts on / in (``support``)."""

    name: str
    kind: str
    asset: ObjectAsset
    support: Target
    relation: str = "On"  # or "In"

    @property
    def region(self) -> Region | None:
        return self.support.region if self.support.kind == "workspace" else None


@dataclass(frozen=True)
class SceneFixture:
    """A static fixture at table-frame ``pos`` (m) and ``yaw`` (rad)."""

    name: str
    kind: str
    asset: FixtureAsset
    pos: tuple[float, float]
    yaw: float


@dataclass(frozen=True)
class LiberoScene:
    """Everything the simulator needs for one task (duck-types ``TaskSpec`` where
    ``TaskSimEnv`` reads it: ``objects[i].name``)."""

    suite: str
    problem: Problem
    objects: tuple[SceneObject, ...]
    workspace: str
    table_full_size: tuple[float, float, float]
    robot_x: float
    fixtures: tuple[SceneFixture, ...] = ()
    #: (fixture, joint suffix, state) set at every reset (m for drawers, rad for knobs)
    init_joints: tuple[tuple[str, str, float], ...] = ()

    @property
    def name(self) -> str:
        return self.problem.task_name

    @property
    def language(self) -> str:
        return self.problem.benchmark_language

    @property
    def gym_id(self) -> str:
        return gym_id(self.suite, self.name)

    def object(self, name: str) -> SceneObject:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(name)

    def fixture(self, name: str) -> SceneFixture:
        for f in self.fixtures:
            if f.name == name:
                return f
        raise KeyError(name)

    def resolve(self, arg: str) -> Target:
        t = resolve(self.problem, arg)
        if isinstance(t, str):
            raise KeyError(t)
        return t


def gym_id(suite: str, task: str) -> str:
    """``LIBERO/<suite>-<task>-v0``: beside today's ``LiberoLike/<suite>-<task>-v0``."""
    return f"LIBERO/{suite}-{task}-v0"


def resolve(problem: Problem, arg: str) -> Target | str:
    """What ``arg`` names, or a string saying why it cannot be used."""
    kinds = dict((*problem.objects, *problem.fixtures))
    if arg in kinds:
        if kinds[arg] in WORKSPACE_FIXTURES:
            return f"{arg}: the workspace itself"
        return Target(
            "object" if arg in dict(problem.objects) else "fixture", arg, owner_kind=kinds[arg]
        )
    try:
        r = problem.region(arg)
    except KeyError:
        return f"{arg}: unknown name"
    if arg in problem.dangling_regions:
        return f"{arg}: region on an undeclared target"
    tk = kinds[r.target]
    if tk in WORKSPACE_FIXTURES:
        if not r.ranges:
            return f"{arg}: workspace region without :ranges"
        return Target("workspace", r.target, r, owner_kind=tk)
    if r.target in dict(problem.objects):
        asset = OBJECT_ASSETS.get(tk)
        if r.name != "contain_region" or asset is None or asset.container is None:
            return f"{arg}: object region {r.name} of {tk} not modelled"
        return Target("object_region", r.target, r, owner_kind=tk)
    fx = FIXTURE_ASSETS.get(tk)
    if fx is None:
        return f"{arg}: fixture type {tk} has no stand-in"
    try:
        return Target("fixture_region", r.target, r, fx.region(r.name), tk)
    except KeyError:
        return f"{arg}: {tk} has no region {r.name}"


def _open_joint(t: Target) -> FixtureJoint | None:
    """The drawer / door joint that Open / Close of ``t`` reads."""
    if t.kind == "fixture_region" and t.fixture_region.joint:
        fx = FIXTURE_ASSETS[t.owner_kind]
        return next(j for j in fx.joints if j.suffix == t.fixture_region.joint)
    if t.kind == "fixture":
        fx = FIXTURE_ASSETS.get(t.owner_kind)
        doors = [j for j in (fx.joints if fx else ()) if j.kind in ("drawer", "door")]
        return doors[0] if len(doors) == 1 else None
    return None


def _knob(t: Target) -> FixtureJoint | None:
    if t.kind != "fixture":
        return None
    return next((j for j in FIXTURE_ASSETS[t.owner_kind].joints if j.kind == "knob"), None)


def _goal_reason(problem: Problem, a: Atom) -> str | None:
    if a.head not in SUPPORTED_GOAL_PREDICATES:
        return f"goal predicate {a.head} not evaluated"
    ts = [resolve(problem, x) for x in a.args]
    bad = [t for t in ts if isinstance(t, str)]
    if bad:
        return f"goal {a}: " + "; ".join(bad)
    if a.head in ("Open", "Close"):
        return None if _open_joint(ts[0]) is not None else f"goal {a}: nothing to open"
    if a.head in ("TurnOn", "TurnOff"):
        t = ts[0]
        ok = t.kind == "fixture" and any(
            j.kind == "knob" for j in FIXTURE_ASSETS[t.owner_kind].joints
        )
        return None if ok else f"goal {a}: nothing to turn"
    if a.head == "In" and ts[1].kind not in ("object_region", "fixture_region"):
        return f"goal {a}: not a container"
    if a.head == "On" and ts[1].kind not in ("object", "workspace", "fixture_region"):
        return f"goal {a}: not a surface"
    return None


def build_problems(problem: Problem) -> list[str]:
    """Why a problem cannot be built on our stack yet (empty list: it can)."""
    why: list[str] = []
    ws_types = [t for _, t in problem.fixtures if t in WORKSPACE_FIXTURES]
    if len(ws_types) != 1 or ws_types[0] not in WORKSPACES:
        why.append(f"workspace {ws_types} not built (known: {', '.join(WORKSPACES)})")
    others = [
        f"{n} ({t})"
        for n, t in problem.fixtures
        if t not in WORKSPACE_FIXTURES and t not in FIXTURE_ASSETS
    ]
    if others:
        why.append("fixtures without a stand-in: " + ", ".join(others))
    missing = sorted({t for _, t in problem.objects if t not in OBJECT_ASSETS})
    if missing:
        why.append("object types without a stand-in: " + ", ".join(missing))
    if why:
        return why
    placed: dict[str, list[Atom]] = {}
    for a in problem.init:
        if a.head in ("On", "In") and len(a.args) == 2:
            placed.setdefault(a.args[0], []).append(a)
    for name, _ in (*problem.objects, *problem.fixtures):
        if dict((*problem.objects, *problem.fixtures))[name] in WORKSPACE_FIXTURES:
            continue
        atoms_ = placed.get(name, [])
        if len(atoms_) != 1:
            why.append(f"{name}: needs exactly one (On/In {name} X) in :init, has {len(atoms_)}")
            continue
        t = resolve(problem, atoms_[0].args[1])
        if isinstance(t, str):
            why.append(f"init {atoms_[0]}: {t}")
        elif name in dict(problem.fixtures) and t.kind != "workspace":
            why.append(f"init {atoms_[0]}: fixtures stand on the workspace")
        elif t.kind not in ("workspace", "object", "fixture_region"):
            why.append(f"init {atoms_[0]}: cannot place on {t.kind}")
    for a in problem.init:
        if a.head in ("On", "In"):
            continue
        if a.head in ("Open", "Close"):
            t = resolve(problem, a.args[0])
            if isinstance(t, str) or _open_joint(t) is None:
                why.append(f"init {a}: nothing to open")
        elif a.head in ("TurnOn", "TurnOff"):
            t = resolve(problem, a.args[0])
            if isinstance(t, str) or _knob(t) is None:
                why.append(f"init {a}: nothing to turn")
        else:
            why.append(f"init predicate {a} not supported")
    if not is_conjunction(problem.goal):
        why.append(f"goal {problem.goal} is not a conjunction")
    for a in problem.goal_atoms:
        r = _goal_reason(problem, a)
        if r:
            why.append(r)
    return why


def scene_from_problem(problem: Problem, suite: str) -> LiberoScene:
    """Build the scene; raises ``NotBuildableError`` listing every reason it cannot."""
    why = build_problems(problem)
    if why:
        raise NotBuildableError(problem.path, why)
    workspace = next(t for _, t in problem.fixtures if t in WORKSPACE_FIXTURES)
    ws = WORKSPACES[workspace]
    size, robot_x = ws.table_full_size, ws.robot_x
    init = {a.args[0]: a for a in problem.init if a.head in ("On", "In")}
    fixtures = []
    for name, kind in problem.fixtures:
        if kind in WORKSPACE_FIXTURES:
            continue
        r = resolve(problem, init[name].args[1]).region  # type: ignore[union-attr]
        x0, y0, x1, y1 = r.ranges[0]
        lo, hi = r.yaw_rotation or (0.0, 0.0)
        # fixtures are compiled into the model: the centre of their range and yaw range
        fixtures.append(
            SceneFixture(
                name, kind, FIXTURE_ASSETS[kind], ((x0 + x1) / 2, (y0 + y1) / 2), (lo + hi) / 2
            )
        )
    objects = []
    for name, kind in problem.objects:
        a = init[name]
        objects.append(
            SceneObject(name, kind, OBJECT_ASSETS[kind], resolve(problem, a.args[1]), a.head)  # type: ignore[arg-type]
        )
    joints = []
    for a in problem.init:
        if a.head not in ("Open", "Close", "TurnOn", "TurnOff"):
            continue
        t = resolve(problem, a.args[0])
        j = _open_joint(t) if a.head in ("Open", "Close") else _knob(t)  # type: ignore[arg-type]
        on = a.head in ("Open", "TurnOn")
        joints.append((t.owner, j.suffix, j.open_value if on else 0.0))  # type: ignore[union-attr]
    return LiberoScene(
        suite=suite,
        problem=problem,
        objects=tuple(objects),
        workspace=workspace,
        table_full_size=size,
        robot_x=robot_x,
        fixtures=tuple(fixtures),
        init_joints=tuple(joints),
    )


def load_scene(suite: str, task: str, root: str | None = None) -> LiberoScene:
    return scene_from_problem(load_problem(files.bddl_path(suite, task, root)), suite)


class NotBuildableError(ValueError):
    """A parsed problem that uses objects, fixtures or predicates we have no stand-in for."""

    def __init__(self, path: str, reasons: list[str]) -> None:
        super().__init__(f"{path}: cannot build: " + "; ".join(reasons))
        self.reasons = reasons
