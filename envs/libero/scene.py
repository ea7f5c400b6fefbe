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

#: LIBERO benchmark evaluation episode limits (OpenVLA / openpi convention), control steps
EPISODE_LIMITS: dict[str, int] = {
    "libero_spatial": 220,
    "libero_object": 280,
    "libero_goal": 300,
    "libero_10": 520,
    "libero_90": 400,
}
#: goal predicates evaluated from simulator state by ``envs.libero.predicates``
SUPPORTED_GOAL_PREDICATES = ("In", "On", "Up")
#: LIBERO's agentview camera (pos m, quat wxyz) per workspace, relative to the surface
CAMERAS = {
    "floor": ((0.8965773716836134, 0.0, 0.65), (0.6182167, 0.3432308, 0.3432314, 0.6182177)),
}
#: LIBERO's Panda home joint angles (rad), MountedPanda / OnTheGroundPanda
LIBERO_HOME_QPOS = (0.0, -0.161037389, 0.0, -2.44459747, 0.0, 2.2267522, 0.7853981633974483)


@dataclass(frozen=True)
class SceneObject:
    """A movable object: its asset and the workspace region it starts in."""

    name: str
    kind: str
    asset: ObjectAsset
    region: Region


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

    @property
    def name(self) -> str:
        return self.problem.task_name

    @property
    def language(self) -> str:
        return self.problem.benchmark_language

    @property
    def gym_id(self) -> str:
        return gym_id(self.suite, self.name)

    @property
    def fixtures(self) -> tuple:
        return ()

    def object(self, name: str) -> SceneObject:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(name)


def gym_id(suite: str, task: str) -> str:
    """``LIBERO/<suite>-<task>-v0``: beside today's ``LiberoLike/<suite>-<task>-v0``."""
    return f"LIBERO/{suite}-{task}-v0"


def build_problems(problem: Problem) -> list[str]:
    """Why a problem cannot be built on our stack yet (empty list: it can)."""
    why: list[str] = []
    workspaces = [n for n, t in problem.fixtures if t in WORKSPACE_FIXTURES]
    others = [f"{n} ({t})" for n, t in problem.fixtures if t not in WORKSPACE_FIXTURES]
    if others:
        why.append("fixtures without an asset: " + ", ".join(others))
    ws_types = [t for _, t in problem.fixtures if t in WORKSPACE_FIXTURES]
    if ws_types != ["floor"]:
        why.append(f"workspace {ws_types} not built yet (only LIBERO's floor scene is)")
    missing = sorted({t for _, t in problem.objects if t not in OBJECT_ASSETS})
    if missing:
        why.append("object types without an asset: " + ", ".join(missing))
    regions = {r.full_name: r for r in problem.regions}
    for name, _ in problem.objects:
        placed = [
            a
            for a in problem.init
            if a.head == "On"
            and a.args[0] == name
            and a.args[1] in regions
            and regions[a.args[1]].target in workspaces
        ]
        if len(placed) != 1:
            why.append(f"{name}: needs exactly one (On {name} <workspace region>) in :init")
    for a in problem.init:
        if a.head != "On":
            why.append(f"init predicate {a} not supported")
    if not is_conjunction(problem.goal):
        why.append(f"goal {problem.goal} is not a conjunction")
    for a in problem.goal_atoms:
        if a.head not in SUPPORTED_GOAL_PREDICATES:
            why.append(f"goal predicate {a.head} not evaluated yet")
    return why


def scene_from_problem(problem: Problem, suite: str) -> LiberoScene:
    """Build the scene; raises ``NotBuildableError`` listing every reason it cannot."""
    why = build_problems(problem)
    if why:
        raise NotBuildableError(problem.path, why)
    regions = {r.full_name: r for r in problem.regions}
    objects = []
    for name, kind in problem.objects:
        init = next(a for a in problem.init if a.head == "On" and a.args[0] == name)
        objects.append(SceneObject(name, kind, OBJECT_ASSETS[kind], regions[init.args[1]]))
    return LiberoScene(
        suite=suite,
        problem=problem,
        objects=tuple(objects),
        workspace="floor",
        table_full_size=(0.88, 1.2, 0.05),  # robosuite puts the base at -0.16 - 0.88/2 = -0.6
        robot_x=-0.6,
    )


def load_scene(suite: str, task: str, root: str | None = None) -> LiberoScene:
    return scene_from_problem(load_problem(files.bddl_path(suite, task, root)), suite)


class NotBuildableError(ValueError):
    """A parsed problem that uses objects, fixtures or predicates we have no stand-in for."""

    def __init__(self, path: str, reasons: list[str]) -> None:
        super().__init__(f"{path}: cannot build: " + "; ".join(reasons))
        self.reasons = reasons


def region_of_goal(scene: LiberoScene, atom: Atom) -> Region | None:
    """The region a goal atom's second argument names, if it is a region."""
    if len(atom.args) < 2:
        return None
    try:
        return scene.problem.region(atom.args[1])
    except KeyError:
        return None
