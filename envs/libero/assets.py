"""Project-owned stand-ins for LIBERO's object meshes, built from primitive geoms.

Table-top sizes are bounded by LIBERO's own init states: e.g. the bowl and plate centres
come within 9.7 cm of each other in libero_spatial, so bowl radius + plate radius < 9.2
cm here (LIBERO scales its meshes; the real kitchenware is larger).

LIBERO's meshes (HOPE / Google Scanned Objects / TurboSquid) are not in the hf-libero wheel,
so every object type a BDDL file names maps to an :class:`ObjectAsset` here: a body of boxes
and cylinders sized like the real item (HOPE and GSO scans are real-size; sizes below are
estimates of the real groceries / kitchenware, not measured from LIBERO's meshes), upright,
with its bottom at ``-half_z`` of the body origin. Lengths are metres, masses kg.

Geoms render in group 1 and collide (one geom for both), as in ``envs.catalog``; the body
states its own inertia because robosuite compiles with ``inertiagrouprange="0 0"``.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from envs.errors import EnvConfigError

_GRASP = 'friction="1.2 0.01 0.0001" condim="4" solref="0.01 1" solimp="0.95 0.99 0.001"'
#: kg/m^3 for the filled groceries: light enough to lift, heavy enough not to bounce
_DENSITY = 300.0


@dataclass(frozen=True)
class Part:
    """One primitive: ``shape`` box (size = half x, y, z) or cylinder (size = radius, half z),
    at ``pos`` (m) in the body frame."""

    shape: str
    size: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rgba: tuple[float, float, float, float] | None = None
    collide: bool = True
    yaw: float = 0.0  # rad about the body's z


@dataclass(frozen=True)
class ObjectAsset:
    """A movable object type. ``half`` is the half extent (m) of its bounding box about the
    body origin; ``container`` is the inner half size (x, y, m) and rim height above the
    bottom (m) when things can be put in it (``In obj <this>_contain_region``)."""

    kind: str
    noun: str
    rgba: tuple[float, float, float, float]
    parts: tuple[Part, ...]
    half: tuple[float, float, float]
    mass: float
    container: tuple[float, float, float] | None = None
    source: str = ""
    tags: tuple[str, ...] = field(default=())

    @property
    def footprint_radius(self) -> float:
        """Radius (m) of the circle around the body origin that holds its footprint."""
        return math.hypot(self.half[0], self.half[1])


def _box_mass(hx: float, hy: float, hz: float) -> float:
    return _DENSITY * 8 * hx * hy * hz


def _cyl_mass(r: float, hz: float) -> float:
    return _DENSITY * math.pi * r * r * 2 * hz


def _box(kind, noun, rgba, half, label_rgba=None, source=""):
    hx, hy, hz = half
    parts = [Part("box", half)]
    if label_rgba is not None:  # a printed label band, visual only
        parts.append(Part("box", (hx + 0.0005, hy * 0.7, hz * 0.45), (0, 0, 0), label_rgba, False))
    return ObjectAsset(kind, noun, rgba, tuple(parts), half, _box_mass(*half), source=source)


def _can(kind, noun, rgba, r, hz, label_rgba, source=""):
    parts = (
        Part("cylinder", (r, hz)),
        Part("cylinder", (r + 0.0005, hz * 0.6), (0, 0, 0), label_rgba, False),
    )
    return ObjectAsset(kind, noun, rgba, parts, (r, r, hz), _cyl_mass(r, hz), source=source)


def _bottle(kind, noun, rgba, body, neck, cap_rgba, source=""):
    """A squeeze / glass bottle: body box (hx, hy, hz) or cylinder (r, hz), neck cylinder
    (r, hz) on top, a coloured cap. The origin is the middle of the whole height."""
    if len(body) == 3:
        bx, by, bz = body
        body_part_size: tuple[float, ...] = body
        shape = "box"
        hx, hy = bx, by
    else:
        r, bz = body
        body_part_size = body
        shape = "cylinder"
        hx = hy = r
    nr, nz = neck
    total = bz + nz  # half of the full height
    parts = (
        Part(shape, body_part_size, (0, 0, -total + bz)),
        Part("cylinder", (nr, nz), (0, 0, -total + 2 * bz + nz), cap_rgba),
    )
    mass = _box_mass(hx, hy, bz) if shape == "box" else _cyl_mass(hx, bz)
    return ObjectAsset(kind, noun, rgba, parts, (hx, hy, total), mass, source=source)


def _basket() -> ObjectAsset:
    # LIBERO's basket (Google Scanned Objects) is a shallow woven basket about 28 x 20 cm
    ix, iy, wall, t, base = 0.115, 0.085, 0.065, 0.008, 0.006
    hz = (wall + base) / 2
    z0 = -hz  # bottom
    c = (0.62, 0.45, 0.25, 1.0)
    parts = (
        Part("box", (ix + t, iy + t, base / 2), (0, 0, z0 + base / 2)),
        Part("box", (t / 2, iy + t, wall / 2), (ix + t / 2, 0, z0 + base + wall / 2)),
        Part("box", (t / 2, iy + t, wall / 2), (-ix - t / 2, 0, z0 + base + wall / 2)),
        Part("box", (ix, t / 2, wall / 2), (0, iy + t / 2, z0 + base + wall / 2)),
        Part("box", (ix, t / 2, wall / 2), (0, -iy - t / 2, z0 + base + wall / 2)),
    )
    return ObjectAsset(
        "basket",
        "basket",
        c,
        parts,
        (ix + t, iy + t, hz),
        0.8,
        container=(ix, iy, wall + base),
        source="Google Scanned Objects basket",
        tags=("container",),
    )


def _bowl(kind, noun, rgba, r_out, height, mass, source="", wall=0.005) -> ObjectAsset:
    """Open-top bowl: a base disc and a ring of ``wall`` (m) thick slabs (graspable at the rim)."""
    base, n = 0.006, 16
    hz = height / 2
    parts = [Part("cylinder", (r_out * 0.6, base / 2), (0, 0, -hz + base / 2))]
    r_mid = r_out - wall / 2
    # the wall flares out: slabs stand on a ring just outside the base disc
    half_w = math.pi * r_mid / n * 1.1
    for i in range(n):
        a = 2 * math.pi * i / n
        parts.append(
            Part(
                "box",
                (wall / 2, half_w, hz - base / 2),
                (r_mid * math.cos(a), r_mid * math.sin(a), base / 2),
                yaw=a,
            )
        )
    return ObjectAsset(
        kind,
        noun,
        rgba,
        tuple(parts),
        (r_out, r_out, hz),
        mass,
        container=(min(r_out * 0.7, r_out - wall),) * 2 + (height,),
        source=source,
        tags=("container",),
    )


def _mug(kind, noun, rgba, r, hz, source="") -> ObjectAsset:
    """A mug: a body of wall slabs on a base disc (open top) and a side handle (+x)."""
    wall, base, n = 0.005, 0.006, 14
    parts = [Part("cylinder", (r - 0.002, base / 2), (0, 0, -hz + base / 2))]
    r_mid = r - wall / 2
    half_w = math.pi * r_mid / n * 1.1
    for i in range(n):
        a = 2 * math.pi * i / n
        parts.append(
            Part(
                "box",
                (wall / 2, half_w, hz - base / 2),
                (r_mid * math.cos(a), r_mid * math.sin(a), base / 2),
                yaw=a,
            )
        )
    parts.append(Part("box", (0.012, 0.005, hz * 0.55), (r + 0.012, 0, 0)))
    mass = 0.12
    return ObjectAsset(
        kind,
        noun,
        rgba,
        tuple(parts),
        (r + 0.024, r, hz),
        mass,
        container=(r * 0.7, r * 0.7, 2 * hz),
        source=source,
        tags=("container",),
    )


def _tray() -> ObjectAsset:
    # a shallow wooden serving tray, 26 x 18 cm inside, 3 cm rim
    ix, iy, wall, t, base = 0.13, 0.09, 0.03, 0.008, 0.006
    hz = (wall + base) / 2
    z0 = -hz
    parts = (
        Part("box", (ix + t, iy + t, base / 2), (0, 0, z0 + base / 2)),
        Part("box", (t / 2, iy + t, wall / 2), (ix + t / 2, 0, z0 + base + wall / 2)),
        Part("box", (t / 2, iy + t, wall / 2), (-ix - t / 2, 0, z0 + base + wall / 2)),
        Part("box", (ix, t / 2, wall / 2), (0, iy + t / 2, z0 + base + wall / 2)),
        Part("box", (ix, t / 2, wall / 2), (0, -iy - t / 2, z0 + base + wall / 2)),
    )
    return ObjectAsset(
        "wooden_tray",
        "wooden tray",
        (0.7, 0.5, 0.3, 1),
        parts,
        (ix + t, iy + t, hz),
        0.6,
        container=(ix, iy, wall + base),
        source="TurboSquid wooden tray",
        tags=("container",),
    )


def _moka_pot() -> ObjectAsset:
    # an 8-sided aluminium pot: wide base, narrower top, a handle on -x
    parts = (
        Part("cylinder", (0.038, 0.035), (0, 0, -0.035)),
        Part("cylinder", (0.032, 0.03), (0, 0, 0.03)),
        Part("cylinder", (0.012, 0.006), (0, 0, 0.066), (0.1, 0.1, 0.1, 1)),
        Part("box", (0.02, 0.006, 0.03), (-0.055, 0, 0.025), (0.1, 0.1, 0.1, 1)),
    )
    return ObjectAsset(
        "moka_pot",
        "moka pot",
        (0.7, 0.7, 0.72, 1),
        parts,
        (0.075, 0.038, 0.072),
        0.25,
        source="GSO moka pot",
    )


def _frypan() -> ObjectAsset:
    r, wall, hz, n = 0.09, 0.005, 0.02, 16
    parts = [Part("cylinder", (r, 0.003), (0, 0, -hz + 0.003))]
    for i in range(n):
        a = 2 * math.pi * i / n
        parts.append(
            Part(
                "box",
                (wall / 2, math.pi * r / n * 1.1, hz - 0.003),
                (r * math.cos(a), r * math.sin(a), 0.003),
                yaw=a,
            )
        )
    parts.append(Part("box", (0.07, 0.012, 0.006), (-r - 0.07, 0, 0.005), (0.1, 0.1, 0.1, 1)))
    return ObjectAsset(
        "chefmate_8_frypan",
        "frying pan",
        (0.2, 0.2, 0.22, 1),
        tuple(parts),
        (r + 0.14, r, hz),
        0.5,
        source="GSO Chefmate 8 in frypan",
    )


OBJECT_ASSETS: dict[str, ObjectAsset] = {
    a.kind: a
    for a in (
        # HOPE groceries (libero_object, libero_10, libero_90)
        _can(
            "alphabet_soup",
            "alphabet soup",
            (0.85, 0.2, 0.15, 1),
            0.033,
            0.042,
            (0.95, 0.92, 0.85, 1),
            "HOPE AlphabetSoup",
        ),
        _can(
            "tomato_sauce",
            "tomato sauce",
            (0.8, 0.12, 0.08, 1),
            0.033,
            0.04,
            (0.2, 0.5, 0.2, 1),
            "HOPE TomatoSauce",
        ),
        _box(
            "butter",
            "butter",
            (0.95, 0.9, 0.6, 1),
            (0.05, 0.03, 0.014),
            (0.85, 0.2, 0.2, 1),
            "HOPE Butter",
        ),
        _box(
            "cream_cheese",
            "cream cheese",
            (0.85, 0.9, 0.95, 1),
            (0.05, 0.029, 0.015),
            (0.2, 0.35, 0.75, 1),
            "HOPE CreamCheese",
        ),
        _box(
            "chocolate_pudding",
            "chocolate pudding",
            (0.4, 0.22, 0.12, 1),
            (0.042, 0.032, 0.018),
            (0.9, 0.85, 0.7, 1),
            "HOPE ChocolatePudding",
        ),
        _box(
            "milk",
            "milk",
            (0.95, 0.95, 0.95, 1),
            (0.03, 0.03, 0.075),
            (0.2, 0.4, 0.85, 1),
            "HOPE Milk",
        ),
        _box(
            "orange_juice",
            "orange juice",
            (1.0, 0.6, 0.1, 1),
            (0.03, 0.03, 0.078),
            (0.95, 0.95, 0.9, 1),
            "HOPE OrangeJuice",
        ),
        _bottle(
            "ketchup",
            "ketchup",
            (0.8, 0.08, 0.05, 1),
            (0.03, 0.02, 0.058),
            (0.012, 0.012),
            (0.95, 0.95, 0.95, 1),
            "HOPE Ketchup",
        ),
        _bottle(
            "bbq_sauce",
            "bbq sauce",
            (0.35, 0.15, 0.08, 1),
            (0.028, 0.02, 0.058),
            (0.012, 0.012),
            (0.1, 0.1, 0.1, 1),
            "HOPE BBQSauce",
        ),
        _bottle(
            "salad_dressing",
            "salad dressing",
            (0.9, 0.85, 0.55, 1),
            (0.026, 0.06),
            (0.011, 0.015),
            (0.15, 0.45, 0.15, 1),
            "HOPE SaladDressing",
        ),
        _bottle(
            "new_salad_dressing",
            "salad dressing",
            (0.9, 0.8, 0.5, 1),
            (0.026, 0.06),
            (0.011, 0.015),
            (0.7, 0.2, 0.2, 1),
            "HOPE SaladDressing (variant)",
        ),
        _basket(),
        # table-top objects of libero_spatial / libero_goal (Google Scanned Objects, HOPE)
        _bowl(
            "akita_black_bowl",
            "black bowl",
            (0.08, 0.08, 0.08, 1),
            0.034,
            0.04,
            0.12,
            "GSO Akita Black Bowl",
        ),
        _bowl("white_bowl", "white bowl", (0.92, 0.92, 0.92, 1), 0.044, 0.045, 0.12, "GSO bowl"),
        # LIBERO's ramekin (its collision boxes): 8.2 cm across, 4.2 cm tall, 7.1 cm inside.
        # LIBERO's bowl flares from 6.8 cm at its foot to 9.6 cm at its rim, so its foot dips
        # ~1 cm into the ramekin and its wall rests on the rim. Our bowl is a straight 6.8 cm
        # cylinder (so the gripper can take it whole): with a 7.1 cm opening it would drop
        # in, with 6.6 cm (a 5 mm wall) it wedged into the wall and came up with the bowl.
        # The thick glazed rim (1.3 cm, 5.6 cm opening) keeps the bowl resting on top.
        _bowl(
            "glazed_rim_porcelain_ramekin",
            "ramekin",
            (0.9, 0.88, 0.82, 1),
            0.041,
            0.042,
            0.12,
            "GSO Glazed Rim Porcelain Ramekin",
            wall=0.013,
        ),
        ObjectAsset(
            "plate",
            "plate",
            (0.93, 0.93, 0.93, 1),
            (
                Part("cylinder", (0.056, 0.007)),
                Part("cylinder", (0.038, 0.0006), (0, 0, 0.0072), (0.8, 0.8, 0.85, 1), False),
            ),
            (0.056, 0.056, 0.007),
            0.3,
            source="GSO plate",
        ),
        _box(
            "cookies",
            "cookie box",
            (0.85, 0.75, 0.5, 1),
            (0.06, 0.045, 0.025),
            (0.25, 0.35, 0.7, 1),
            "HOPE Cookies",
        ),
        _bottle(
            "wine_bottle",
            "wine bottle",
            (0.15, 0.3, 0.15, 1),
            (0.03, 0.08),
            (0.013, 0.045),
            (0.6, 0.1, 0.1, 1),
            "TurboSquid wine bottle",
        ),
        # libero_10 / libero_90 kitchenware and books
        _mug("porcelain_mug", "white mug", (0.95, 0.95, 0.95, 1), 0.037, 0.045, "GSO mug"),
        _mug("red_coffee_mug", "red coffee mug", (0.75, 0.1, 0.1, 1), 0.037, 0.045, "GSO mug"),
        _mug(
            "white_yellow_mug",
            "yellow and white mug",
            (0.95, 0.85, 0.3, 1),
            0.037,
            0.045,
            "GSO mug",
        ),
        _moka_pot(),
        _frypan(),
        _tray(),
        _box(
            "black_book",
            "black book",
            (0.1, 0.1, 0.1, 1),
            (0.045, 0.07, 0.016),
            (0.8, 0.8, 0.8, 1),
            "TurboSquid book",
        ),
        _box(
            "yellow_book",
            "yellow book",
            (0.9, 0.8, 0.2, 1),
            (0.045, 0.07, 0.016),
            (0.3, 0.3, 0.3, 1),
            "TurboSquid book",
        ),
    )
}

#: fixture types the workspace stands for (no body is built: the table / floor is the arena)
WORKSPACE_FIXTURES = ("floor", "table", "kitchen_table", "living_room_table", "study_table")


def get_asset(kind: str) -> ObjectAsset:
    if kind not in OBJECT_ASSETS:
        raise EnvConfigError("object type", kind, sorted(OBJECT_ASSETS))
    return OBJECT_ASSETS[kind]


def _inertial(mass: float, half: tuple[float, float, float]) -> str:
    hx, hy, hz = half
    ixx = mass / 3 * (hy**2 + hz**2)
    iyy = mass / 3 * (hx**2 + hz**2)
    izz = mass / 3 * (hx**2 + hy**2)
    return f'<inertial pos="0 0 0" mass="{mass:.4f}" diaginertia="{ixx:.3e} {iyy:.3e} {izz:.3e}"/>'


def _fmt(v: tuple[float, ...]) -> str:
    return " ".join(f"{x:.5f}" for x in v)


def build_object_body(name: str, asset: ObjectAsset) -> ET.Element:
    """MJCF body ``<name>_main`` with free joint ``<name>_joint0``, parked above the scene
    (the init state sets the real pose)."""
    geoms = []
    for i, p in enumerate(asset.parts):
        rgba = _fmt(p.rgba or asset.rgba)
        coll = _GRASP if p.collide else 'contype="0" conaffinity="0"'
        euler = f' euler="0 0 {p.yaw:.5f}"' if p.yaw else ""
        geoms.append(
            f'<geom name="{name}_g{i}" type="{p.shape}" size="{_fmt(p.size)}" pos="{_fmt(p.pos)}"'
            f'{euler} rgba="{rgba}" group="1" {coll}/>'
        )
    xml = (
        f'<body name="{name}_main" pos="0 0 2.0"><freejoint name="{name}_joint0"/>'
        f"{_inertial(asset.mass, asset.half)}{''.join(geoms)}</body>"
    )
    return ET.fromstring(xml)
