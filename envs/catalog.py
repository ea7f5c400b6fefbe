"""Object and fixture catalog: MJCF for every ``kind`` a TaskSpec may name.

Meshed objects come from robosuite (milk, bread, can, lemon, bottle, cereal); bowls,
plates, blocks, the basket, the cabinet with its sliding drawer and the stove with its
push button are built here from primitive geoms. Sizes are metres; every graspable
object is 3-7 cm across so the Panda gripper (8 cm max opening) can take it from above.

Geom groups: group 1 is what the cameras render. robosuite objects keep their
collision geoms in group 0 (hidden) with visual copies in group 1; the primitive bodies
built here use one geom for both.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from robosuite.models.objects import (
    BottleObject,
    BreadObject,
    CanObject,
    CerealObject,
    LemonObject,
    MilkObject,
)

from envs.errors import TaskSpecError

#: table top height above the floor (m); robosuite's TableArena default offset
TABLE_TOP_Z = 0.8

_GRASP = 'friction="1.2 0.01 0.0001" condim="4" solref="0.01 1" solimp="0.95 0.99 0.001"'


@dataclass(frozen=True)
class ObjectKind:
    """A movable object kind. ``noun`` is how instructions name it."""

    noun: str
    rgba: tuple[float, float, float, float]
    robosuite_cls: Callable | None = None


OBJECT_KINDS: dict[str, ObjectKind] = {
    "milk": ObjectKind("milk", (1, 1, 1, 1), MilkObject),
    "bread": ObjectKind("bread", (1, 1, 1, 1), BreadObject),
    "can": ObjectKind("soda can", (1, 1, 1, 1), CanObject),
    "lemon": ObjectKind("lemon", (1, 1, 1, 1), LemonObject),
    "bottle": ObjectKind("bottle", (1, 1, 1, 1), BottleObject),
    "cereal": ObjectKind("cereal box", (1, 1, 1, 1), CerealObject),
    "cube": ObjectKind("cube", (0.8, 0.1, 0.1, 1)),
    "butter": ObjectKind("butter", (0.95, 0.85, 0.35, 1)),
    "pudding": ObjectKind("chocolate pudding", (0.35, 0.2, 0.1, 1)),
    "juice": ObjectKind("orange juice", (1.0, 0.55, 0.1, 1)),
    "sauce": ObjectKind("tomato sauce", (0.75, 0.1, 0.05, 1)),
    "soup": ObjectKind("alphabet soup", (0.9, 0.9, 0.75, 1)),
    "bowl": ObjectKind("bowl", (0.08, 0.08, 0.08, 1)),
    "plate": ObjectKind("plate", (0.92, 0.92, 0.92, 1)),
    "cookies": ObjectKind("cookie box", (0.2, 0.45, 0.75, 1)),
}

FIXTURE_KINDS: tuple[str, ...] = ("basket", "cabinet", "stove")

# Fixture geometry (m). Researchers may change these; the expert reads them from
# privileged_state, never from here.
BASKET_INNER_HALF = (0.085, 0.085)
BASKET_WALL_HEIGHT = 0.06
CABINET_HALF = (0.10, 0.13)  # depth (x), width (y)
CABINET_HEIGHT = 0.16
DRAWER_TRAVEL = 0.16
DRAWER_OPEN_THRESHOLD = 0.08
DRAWER_CLOSED_THRESHOLD = 0.015
BUTTON_TRAVEL = 0.014
BUTTON_ON_THRESHOLD = 0.008


def _rgba(c: tuple[float, ...]) -> str:
    return " ".join(f"{v:.3f}" for v in c)


def _inertial(mass: float, half: tuple[float, float, float], pos: str = "0 0 0") -> str:
    # robosuite compiles with inertiagrouprange="0 0" (only group-0 geoms give inertia);
    # our geoms render in group 1, so bodies state their inertia as a solid box (kg, m)
    hx, hy, hz = half
    ixx = mass / 3 * (hy**2 + hz**2)
    iyy = mass / 3 * (hx**2 + hz**2)
    izz = mass / 3 * (hx**2 + hy**2)
    return f'<inertial pos="{pos}" mass="{mass}" diaginertia="{ixx:.3e} {iyy:.3e} {izz:.3e}"/>'


def _free_body(name: str, geoms: str, mass: float, half: tuple[float, float, float]) -> ET.Element:
    # parked high above the table; the init state sets the real pose
    xml = (
        f'<body name="{name}_main" pos="0 0 1.5"><freejoint name="{name}_joint0"/>'
        f"{_inertial(mass, half)}{geoms}</body>"
    )
    return ET.fromstring(xml)


def _box_geoms(name: str, half: tuple[float, float, float], rgba: str) -> str:
    hx, hy, hz = half
    return f'<geom name="{name}_g0" type="box" size="{hx} {hy} {hz}" rgba="{rgba}" group="1" {_GRASP}/>'


def _cyl_geoms(name: str, r: float, hz: float, rgba: str) -> str:
    return (
        f'<geom name="{name}_g0" type="cylinder" size="{r} {hz}" rgba="{rgba}" group="1" {_GRASP}/>'
    )


def _bowl_geoms(name: str, rgba: str) -> str:
    # open-top bowl: base disc + ring of 14 wall slabs; 6.4 cm across, 3.6 cm tall
    r_out, wall, height, base = 0.032, 0.004, 0.036, 0.004
    base_geom = (
        f'<geom name="{name}_g0" type="cylinder" size="{r_out - 0.004} {base / 2}" '
        f'pos="0 0 {-height / 2 + base / 2}" rgba="{rgba}" group="1" {_GRASP}/>'
    )
    parts = [base_geom]
    n = 14
    r_mid = r_out - wall / 2
    half_w = math.pi * r_mid / n * 1.08
    for i in range(n):
        a = 2 * math.pi * i / n
        parts.append(
            # walls stand on the base disc, so only the disc touches the table (few contacts)
            f'<geom name="{name}_g{i + 1}" type="box" size="{wall / 2} {half_w:.5f} {(height - base) / 2}" '
            f'pos="{r_mid * math.cos(a):.5f} {r_mid * math.sin(a):.5f} {base / 2}" euler="0 0 {a:.5f}" '
            f'rgba="{rgba}" group="1" {_GRASP}/>'
        )
    return "".join(parts)


def build_object_xml(name: str, kind: str, rgba: tuple[float, ...] | None):
    """Return ``(robosuite_object | None, element | None)`` for a movable object."""
    if kind not in OBJECT_KINDS:
        raise TaskSpecError(f"unknown object kind {kind!r}; allowed: {sorted(OBJECT_KINDS)}")
    k = OBJECT_KINDS[kind]
    if k.robosuite_cls is not None:
        return k.robosuite_cls(name=name), None
    c = _rgba(rgba or k.rgba)
    boxes = {
        "cube": (0.02, 0.02, 0.02),
        "butter": (0.022, 0.032, 0.016),
        "pudding": (0.025, 0.025, 0.02),
        "juice": (0.022, 0.022, 0.045),
        "cookies": (0.03, 0.05, 0.02),
    }
    cyls = {"sauce": (0.022, 0.04), "soup": (0.026, 0.03)}
    density = 350.0  # kg/m^3, light enough to lift, heavy enough not to bounce
    if kind in boxes:
        half = boxes[kind]
        mass = density * 8 * half[0] * half[1] * half[2]
        return None, _free_body(name, _box_geoms(name, half, c), mass, half)
    if kind in cyls:
        r, hz = cyls[kind]
        mass = density * math.pi * r * r * 2 * hz
        return None, _free_body(name, _cyl_geoms(name, r, hz, c), mass, (r, r, hz))
    if kind == "bowl":
        return None, _free_body(name, _bowl_geoms(name, c), 0.08, (0.032, 0.032, 0.018))
    if kind == "plate":
        # heavy, flat disc: stays put when things are dropped on it, still pushable
        g = (
            f'<geom name="{name}_g0" type="cylinder" size="0.07 0.006" rgba="{c}" '
            f'group="1" friction="0.6 0.005 0.0001" condim="3"/>'
            f'<geom name="{name}_g1" type="cylinder" size="0.04 0.0005" pos="0 0 0.0062" '
            f'rgba="0.75 0.75 0.8 1" contype="0" conaffinity="0" group="1"/>'
        )
        return None, _free_body(name, g, 0.35, (0.07, 0.07, 0.006))
    raise TaskSpecError(f"no builder for kind {kind!r}")  # pragma: no cover


def build_fixture_xml(name: str, kind: str, pos: tuple[float, float], yaw: float) -> ET.Element:
    """Return the MJCF body of a fixture at table-frame ``pos`` (m) and ``yaw`` (rad)."""
    x, y = pos
    head = f'<body name="{name}_main" pos="{x} {y} {TABLE_TOP_Z}" euler="0 0 {yaw}">'
    if kind == "basket":
        hx, hy = BASKET_INNER_HALF
        t, h = 0.008, BASKET_WALL_HEIGHT
        c = "0.55 0.38 0.2 1"
        body = (
            f'<geom name="{name}_floor" type="box" size="{hx + t} {hy + t} 0.003" pos="0 0 0.003" rgba="{c}" group="1"/>'
            f'<geom name="{name}_wall0" type="box" size="{t / 2} {hy + t} {h / 2}" pos="{hx + t / 2} 0 {h / 2}" rgba="{c}" group="1"/>'
            f'<geom name="{name}_wall1" type="box" size="{t / 2} {hy + t} {h / 2}" pos="{-hx - t / 2} 0 {h / 2}" rgba="{c}" group="1"/>'
            f'<geom name="{name}_wall2" type="box" size="{hx} {t / 2} {h / 2}" pos="0 {hy + t / 2} {h / 2}" rgba="{c}" group="1"/>'
            f'<geom name="{name}_wall3" type="box" size="{hx} {t / 2} {h / 2}" pos="0 {-hy - t / 2} {h / 2}" rgba="{c}" group="1"/>'
            f'<site name="{name}_center" pos="0 0 0.006" size="0.005" rgba="0 0 0 0"/>'
        )
    elif kind == "cabinet":
        body = _cabinet(name)
    elif kind == "stove":
        body = _stove(name)
    else:
        raise TaskSpecError(f"unknown fixture kind {kind!r}; allowed: {list(FIXTURE_KINDS)}")
    return ET.fromstring(head + body + "</body>")


def _cabinet(name: str) -> str:
    # Opening faces -x (towards the robot). The drawer is a child body on a slide joint
    # whose positive direction pulls it towards the robot; frictionloss keeps it where
    # the gripper leaves it. Parent/child contacts are filtered by MuJoCo by default.
    hx, hy = CABINET_HALF
    H, t = CABINET_HEIGHT, 0.012
    c = "0.45 0.3 0.18 1"
    dc = "0.6 0.42 0.25 1"
    dz0, dz1 = 0.012, 0.09  # drawer slot, above the table (m)
    dhx, dhy = hx - 0.016, hy - t - 0.008  # drawer outer half sizes
    wall = 0.006
    dh = dz1 - dz0 - 0.006
    handle_z = (dz0 + dz1) / 2
    return (
        f'<geom name="{name}_bottom" type="box" size="{hx} {hy} {dz0 / 2}" pos="0 0 {dz0 / 2}" rgba="{c}" group="1"/>'
        f'<geom name="{name}_left" type="box" size="{hx} {t / 2} {H / 2}" pos="0 {hy - t / 2} {H / 2}" rgba="{c}" group="1"/>'
        f'<geom name="{name}_right" type="box" size="{hx} {t / 2} {H / 2}" pos="0 {-hy + t / 2} {H / 2}" rgba="{c}" group="1"/>'
        f'<geom name="{name}_back" type="box" size="{t / 2} {hy} {H / 2}" pos="{hx - t / 2} 0 {H / 2}" rgba="{c}" group="1"/>'
        f'<geom name="{name}_top" type="box" size="{hx} {hy} {(H - dz1) / 2}" pos="0 0 {(H + dz1) / 2}" rgba="{c}" group="1"/>'
        f'<body name="{name}_drawer" pos="0 0 0">'
        f'<joint name="{name}_slide" type="slide" axis="-1 0 0" range="0 {DRAWER_TRAVEL}" limited="true" '
        f'damping="8" frictionloss="3" armature="0.5"/>'
        f"{_inertial(0.6, (dhx, dhy, 0.04), f'0 0 {dz0 + 0.03}')}"
        f'<geom name="{name}_dbottom" type="box" size="{dhx} {dhy} {wall / 2}" pos="{-0.004} 0 {dz0 + wall / 2}" rgba="{dc}" group="1"/>'
        f'<geom name="{name}_dfront" type="box" size="{wall / 2} {hy - t} {(dz1 - dz0) / 2 - 0.002}" pos="{-hx + wall / 2} 0 {(dz0 + dz1) / 2}" rgba="{dc}" group="1"/>'
        f'<geom name="{name}_dback" type="box" size="{wall / 2} {dhy} {dh / 2}" pos="{dhx - 0.004 - wall / 2} 0 {dz0 + dh / 2}" rgba="{dc}" group="1"/>'
        f'<geom name="{name}_dleft" type="box" size="{dhx} {wall / 2} {dh / 2}" pos="-0.004 {dhy - wall / 2} {dz0 + dh / 2}" rgba="{dc}" group="1"/>'
        f'<geom name="{name}_dright" type="box" size="{dhx} {wall / 2} {dh / 2}" pos="-0.004 {-dhy + wall / 2} {dz0 + dh / 2}" rgba="{dc}" group="1"/>'
        # bar handle: a stick towards the robot with a cross bar at its end
        f'<geom name="{name}_handle" type="box" size="0.03 0.007 0.007" pos="{-hx - 0.03} 0 {handle_z}" rgba="0.75 0.75 0.78 1" group="1" friction="1.2 0.01 0.0001" condim="4"/>'
        f'<geom name="{name}_handle_end" type="box" size="0.007 0.03 0.009" pos="{-hx - 0.062} 0 {handle_z}" rgba="0.75 0.75 0.78 1" group="1"/>'
        f'<site name="{name}_handle_site" pos="{-hx - 0.03} 0 {handle_z}" size="0.005" rgba="0 0 0 0"/>'
        f'<site name="{name}_inner_site" pos="-0.004 0 {dz0 + wall}" size="0.005" rgba="0 0 0 0"/>'
        "</body>"
    )


def _stove(name: str) -> str:
    # A flat stove with one burner and a push button that latches down (frictionloss,
    # no spring); TurnedOn once the button is pressed past BUTTON_ON_THRESHOLD.
    c = "0.25 0.25 0.27 1"
    return (
        f'<geom name="{name}_base" type="box" size="0.08 0.12 0.012" pos="0 0 0.012" rgba="{c}" group="1"/>'
        f'<geom name="{name}_burner" type="cylinder" size="0.055 0.0008" pos="0 0.03 0.0245" rgba="0.15 0.15 0.15 1" '
        'contype="0" conaffinity="0" group="1"/>'
        f'<site name="{name}_burner_site" pos="0 0.03 0.024" size="0.005" rgba="0 0 0 0"/>'
        f'<body name="{name}_button_body" pos="-0.04 -0.085 0.024">'
        f'<joint name="{name}_button" type="slide" axis="0 0 1" range="{-BUTTON_TRAVEL} 0" limited="true" '
        'damping="3" frictionloss="2" armature="0.05"/>'
        f"{_inertial(0.02, (0.018, 0.018, 0.012), '0 0 0.012')}"
        f'<geom name="{name}_button_geom" type="cylinder" size="0.018 0.012" pos="0 0 0.012" rgba="0.85 0.1 0.1 1" group="1"/>'
        f'<site name="{name}_button_site" pos="0 0 0.024" size="0.005" rgba="0 0 0 0"/>'
        "</body>"
    )


def fixture_contact_excludes(name: str, kind: str) -> list[ET.Element]:
    """Contact exclusions between a fixture's frame and its moving part.

    MuJoCo's parent/child filter does not apply to bodies welded to the world, so the
    drawer would rub on the cabinet and the button would be pushed out of the stove.
    """
    pairs = {
        "cabinet": (f"{name}_main", f"{name}_drawer"),
        "stove": (f"{name}_main", f"{name}_button_body"),
    }
    if kind not in pairs:
        return []
    a, b = pairs[kind]
    return [ET.fromstring(f'<exclude body1="{a}" body2="{b}"/>')]


def build_distractor_xml(index: int) -> ET.Element:
    """A visual-only mocap body used by the ``interference`` perturbation (no collisions)."""
    shapes = ["box", "sphere", "cylinder"]
    shape = shapes[index % len(shapes)]
    size = {"box": "0.025 0.025 0.025", "sphere": "0.028", "cylinder": "0.024 0.035"}[shape]
    return ET.fromstring(
        f'<body name="distractor{index}" mocap="true" pos="0 0 -2">'
        f'<geom name="distractor{index}_g" type="{shape}" size="{size}" rgba="0.2 0.7 0.3 1" '
        'contype="0" conaffinity="0" group="1"/></body>'
    )
