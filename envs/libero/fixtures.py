"""Project-owned stand-ins for LIBERO's fixtures, articulated where LIBERO's are.

A fixture is a static body standing on the table at its region's centre and yaw. Frames
follow what LIBERO's init states show: the wooden cabinet's drawers open along its local
-y (in libero_spatial, yaw ~2.69 rad, the bowl in the opened top drawer sits towards the
table centre). Each fixture declares the BDDL regions it owns (``top_region``,
``top_side``, ``cook_region``, ...) as boxes in the frame of the body they move with, and
its joints (drawer slides, the stove knob). Lengths m, angles rad.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from envs.errors import EnvConfigError


@dataclass(frozen=True)
class FixtureRegion:
    """A BDDL region owned by a fixture. ``center`` is the middle of its floor / surface in
    the frame of body ``<fixture>_<body>`` (``body=""``: the fixture's root body)."""

    name: str
    body: str
    center: tuple[float, float, float]
    half: tuple[float, float]
    rim: float = 0.0  # wall height above the floor (containers); 0 for open surfaces
    joint: str | None = None  # the joint whose state Open / Close read for this region


@dataclass(frozen=True)
class FixtureJoint:
    """An articulation: ``kind`` drawer (slide, opening m >= 0) or knob (hinge, rad >= 0)."""

    suffix: str
    kind: str
    on_threshold: float  # Open (drawer) / TurnOn (knob) when the state is >= this
    off_threshold: float  # Close / TurnOff when the state is <= this
    #: LIBERO's joint value -> ours (LIBERO's drawers and door open towards negative values)
    libero_scale: float = 1.0
    open_value: float = 0.0  # the state an (Open x) in :init sets


@dataclass(frozen=True)
class FixtureAsset:
    kind: str
    noun: str
    body_xml: str  # inner MJCF of the root body; ``{n}`` is the fixture name
    regions: tuple[FixtureRegion, ...]
    joints: tuple[FixtureJoint, ...] = ()
    excludes: tuple[tuple[str, str], ...] = ()  # body-suffix pairs that must not collide
    footprint: tuple[float, float] = (0.1, 0.1)  # half sizes (m) in its own frame

    def region(self, name: str) -> FixtureRegion:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)


def _g(name: str, size, pos, rgba: str, shape: str = "box", extra: str = "") -> str:
    s = " ".join(f"{v:.4f}" for v in size)
    p = " ".join(f"{v:.4f}" for v in pos)
    return (
        f'<geom name="{name}" type="{shape}" size="{s}" pos="{p}" rgba="{rgba}" group="1" {extra}/>'
    )


# --- wooden cabinet: three drawers opening along local -y -----------------------------------
CAB_W, CAB_D, CAB_H, CAB_T = 0.28, 0.22, 0.30, 0.012  # width (x), depth (y), height, walls
DRAWER_TRAVEL = 0.16
_SLOTS = (("bottom", 0.012), ("middle", 0.103), ("top", 0.194))  # slot floor z
_SLOT_H = 0.091


@dataclass(frozen=True)
class CabinetShape:
    """Carcass and drawer layout (m): ``depth`` along local y centred on ``y0``, ``height``,
    ``slots`` ((name, floor z), bottom first) each ``slot_h`` tall."""

    width: float = CAB_W
    depth: float = CAB_D
    y0: float = 0.0
    height: float = CAB_H
    slots: tuple[tuple[str, float], ...] = _SLOTS
    slot_h: float = _SLOT_H


#: LIBERO's wooden cabinet (its collision boxes, wooden_cabinet.xml): the carcass spans local
#: y -0.078 .. 0.110 (18.8 cm deep, centred 1.6 cm towards the back), its top is 22.3 cm
#: high, the drawer floors sit at 2.1 / 8.9 / 15.9 cm with walls 5.7 cm tall. With the top
#: drawer out 14.5-15.6 cm (LIBERO's init states) the bowl in it stands 0.7-2.7 cm in front
#: of the top panel's edge, its rim 2.6 cm below the carcass top. The earlier centred, 30 cm
#: tall stand-in reached up to 2.4 cm over the bowl, 5.6 cm above its rim: the hand came down
#: on the top panel (libero_spatial task 4, 0 / 50). Width stays 28 cm (LIBERO's 24): the
#: Panda hand, 20 cm long, fits across the drawer only with it.
WOODEN_CABINET = CabinetShape(
    depth=0.19,
    y0=0.016,
    height=0.224,
    slots=(("bottom", 0.012), ("middle", 0.080), ("top", 0.148)),
    slot_h=0.068,
)


def _cabinet_xml(c: str, dc: str, shape: CabinetShape) -> str:
    hc = "0.8 0.8 0.82 1"
    hw, hd, y0, ch = shape.width / 2, shape.depth / 2, shape.y0, shape.height
    t = CAB_T
    parts = [
        _g("{n}_bottom", (hw, hd, 0.006), (0, y0, 0.006), c),
        _g("{n}_left", (t / 2, hd, ch / 2), (-hw + t / 2, y0, ch / 2), c),
        _g("{n}_right", (t / 2, hd, ch / 2), (hw - t / 2, y0, ch / 2), c),
        _g("{n}_back", (hw, t / 2, ch / 2), (0, y0 + hd - t / 2, ch / 2), c),
        _g("{n}_top", (hw, hd, 0.008), (0, y0, ch - 0.008), c),
    ]
    for i, (_, z0) in enumerate(shape.slots[1:]):
        parts.append(_g(f"{{n}}_shelf{i}", (hw - t, hd - t, 0.003), (0, y0, z0), c))
    ix, iy = hw - t - 0.012, hd - 0.02  # drawer outer half sizes
    w = 0.006
    # LIBERO's joint order is top, middle, bottom (its init states): build them in that order
    for slot, z0 in reversed(shape.slots):
        h = shape.slot_h - 0.012
        zc = z0 + 0.004 + h / 2
        parts.append(
            f'<body name="{{n}}_drawer_{slot}" pos="0 {y0:.4f} 0">'
            f'<joint name="{{n}}_{slot}_slide" type="slide" axis="0 -1 0" range="0 {DRAWER_TRAVEL}" '
            'limited="true" damping="8" frictionloss="3" armature="0.5"/>'
            f'<inertial pos="0 0 {zc:.4f}" mass="0.6" diaginertia="0.004 0.004 0.004"/>'
            + _g(f"{{n}}_{slot}_floor", (ix, iy, w / 2), (0, 0.004, z0 + 0.004 + w / 2), dc)
            + _g(
                f"{{n}}_{slot}_front", (ix + 0.008, w / 2, h / 2 + 0.004), (0, -hd + w / 2, zc), dc
            )
            + _g(f"{{n}}_{slot}_back", (ix, w / 2, h / 2), (0, hd - 0.03, zc), dc)
            + _g(f"{{n}}_{slot}_l", (w / 2, iy, h / 2), (-ix + w / 2, 0.004, zc), dc)
            + _g(f"{{n}}_{slot}_r", (w / 2, iy, h / 2), (ix - w / 2, 0.004, zc), dc)
            # bar handle sticking out of the front
            + _g(
                f"{{n}}_{slot}_hstem",
                (0.006, 0.02, 0.006),
                (0, -hd - 0.02, zc),
                hc,
                extra='friction="1.2 0.01 0.0001" condim="4"',
            )
            + _g(f"{{n}}_{slot}_hbar", (0.04, 0.006, 0.008), (0, -hd - 0.04, zc), hc)
            + f'<site name="{{n}}_{slot}_handle" pos="0 {-hd - 0.03:.4f} {zc:.4f}" size="0.005" rgba="0 0 0 0"/>'
            + "</body>"
        )
    return "".join(parts)


def _cabinet(kind: str, noun: str, c: str, dc: str, shape: CabinetShape) -> FixtureAsset:
    width, depth = shape.width, shape.depth
    regions = [
        FixtureRegion(
            f"{slot}_region",
            f"drawer_{slot}",
            (0.0, 0.004, z0 + 0.01),
            (width / 2 - CAB_T - 0.02, depth / 2 - 0.045),
            rim=shape.slot_h - 0.02,
            joint=f"{slot}_slide",
        )
        for slot, z0 in shape.slots
    ]
    regions.append(
        FixtureRegion("top_side", "", (0, shape.y0, shape.height), (width / 2, depth / 2))
    )
    joints = tuple(
        FixtureJoint(f"{slot}_slide", "drawer", 0.08, 0.01, -1.0, 0.95 * DRAWER_TRAVEL)
        for slot in ("top", "middle", "bottom")  # LIBERO's joint order (its init states)
    )
    excludes = (
        *(("main", f"drawer_{s}") for s, _ in shape.slots),
        ("drawer_bottom", "drawer_middle"),
        ("drawer_middle", "drawer_top"),
    )
    return FixtureAsset(
        kind,
        noun,
        _cabinet_xml(c, dc, shape),
        tuple(regions),
        joints,
        excludes,
        footprint=(width / 2, depth / 2 + abs(shape.y0) + 0.05),
    )


# --- flat stove: a long burner plate with a knob that turns about +z --------------------
# LIBERO's init states put the cook region 15 cm along +x from the stove's origin
STOVE_HALF = (0.15, 0.11, 0.0125)
STOVE_CENTER_X = 0.07
COOK_XY = (0.15, 0.0)


def _stove() -> FixtureAsset:
    hx, hy, hz = STOVE_HALF
    c = "0.2 0.2 0.22 1"
    cx, cy = COOK_XY
    xml = (
        _g("{n}_base", (hx, hy, hz), (STOVE_CENTER_X, 0, hz), c)
        + _g(
            "{n}_burner",
            (0.065, 0.0008),
            (cx, cy, 2 * hz + 0.0008),
            "0.1 0.1 0.1 1",
            "cylinder",
            'contype="0" conaffinity="0"',
        )
        + _g(
            "{n}_ring",
            (0.04, 0.001),
            (cx, cy, 2 * hz + 0.0012),
            "0.55 0.15 0.1 1",
            "cylinder",
            'contype="0" conaffinity="0"',
        )
        + f'<body name="{{n}}_knob_body" pos="-0.03 {-hy + 0.035:.4f} {2 * hz:.4f}">'
        '<joint name="{n}_knob" type="hinge" axis="0 0 1" range="0 1.57" limited="true" '
        'damping="0.05" frictionloss="0.08" armature="0.002"/>'
        '<inertial pos="0 0 0.012" mass="0.03" diaginertia="1e-5 1e-5 1e-5"/>'
        + _g("{n}_knob_disc", (0.016, 0.01), (0, 0, 0.01), "0.85 0.85 0.85 1", "cylinder")
        + _g(
            "{n}_knob_fin",
            (0.022, 0.004, 0.008),
            (0.0, 0, 0.026),
            "0.9 0.15 0.1 1",
            extra='friction="1.2 0.01 0.0001" condim="4"',
        )
        + '<site name="{n}_knob_site" pos="0 0 0.03" size="0.005" rgba="0 0 0 0"/>'
        "</body>"
    )
    return FixtureAsset(
        "flat_stove",
        "stove",
        xml,
        (FixtureRegion("cook_region", "", (cx, cy, 2 * hz), (0.06, 0.06)),),
        (FixtureJoint("knob", "knob", 0.5, 0.1, 1.0, 0.8),),
        (("main", "knob_body"),),
        footprint=(hx, hy),
    )


# --- wine rack: a base with an upright ring that holds one bottle ---------------------------
def _rack() -> FixtureAsset:
    import math

    c = "0.45 0.28 0.15 1"
    r_in, wall, h = 0.045, 0.008, 0.09
    parts = [_g("{n}_base", (0.08, 0.08, 0.006), (0, 0, 0.006), c)]
    n = 10
    for i in range(n):
        a = 2 * math.pi * i / n
        rm = r_in + wall / 2
        parts.append(
            f'<geom name="{{n}}_ring{i}" type="box" size="{wall / 2} {math.pi * rm / n * 1.1:.4f} {h / 2}" '
            f'pos="{rm * math.cos(a):.4f} {rm * math.sin(a):.4f} {0.012 + h / 2:.4f}" euler="0 0 {a:.4f}" '
            f'rgba="{c}" group="1"/>'
        )
    for sx in (-1, 1):  # two posts so it reads as a rack
        parts.append(
            _g(f"{{n}}_post{(sx + 1) // 2}", (0.006, 0.006, 0.07), (sx * 0.07, 0.07, 0.082), c)
        )
    return FixtureAsset(
        "wine_rack",
        "wine rack",
        "".join(parts),
        (FixtureRegion("top_region", "", (0, 0, 0.012), (r_in, r_in), rim=h),),
        footprint=(0.08, 0.08),
    )


# --- microwave: a hollow box with a door hinged on its left edge, opening along local -y --
MW_W, MW_D, MW_H, MW_T = 0.30, 0.22, 0.20, 0.01


def _microwave() -> FixtureAsset:
    hw, hd, t = MW_W / 2, MW_D / 2, MW_T
    c, dc = "0.85 0.85 0.87 1", "0.15 0.15 0.17 1"
    xml = (
        _g("{n}_floor", (hw, hd, t / 2), (0, 0, t / 2), c)
        + _g("{n}_roof", (hw, hd, t / 2), (0, 0, MW_H - t / 2), c)
        + _g("{n}_left", (t / 2, hd, MW_H / 2), (-hw + t / 2, 0, MW_H / 2), c)
        + _g("{n}_right", (t / 2, hd, MW_H / 2), (hw - t / 2, 0, MW_H / 2), c)
        + _g("{n}_back", (hw, t / 2, MW_H / 2), (0, hd - t / 2, MW_H / 2), c)
        # the door: hinge on the -x edge of the front face; opening swings it out towards -y
        + f'<body name="{{n}}_door" pos="{-hw:.4f} {-hd:.4f} 0">'
        '<joint name="{n}_door_hinge" type="hinge" axis="0 0 -1" range="0 1.75" limited="true" '
        'damping="0.3" frictionloss="0.3" armature="0.01"/>'
        f'<inertial pos="{hw:.4f} -0.006 {MW_H / 2:.4f}" mass="0.3" diaginertia="0.003 0.003 0.003"/>'
        + _g("{n}_door_panel", (hw, 0.006, MW_H / 2), (hw, -0.006, MW_H / 2), dc)
        + _g(
            "{n}_door_handle",
            (0.008, 0.02, 0.05),
            (2 * hw - 0.03, -0.03, MW_H / 2),
            "0.8 0.8 0.82 1",
            extra='friction="1.2 0.01 0.0001" condim="4"',
        )
        + f'<site name="{{n}}_door_handle" pos="{2 * hw - 0.03:.4f} -0.05 {MW_H / 2:.4f}" size="0.005" rgba="0 0 0 0"/>'
        + "</body>"
    )
    return FixtureAsset(
        "microwave",
        "microwave",
        xml,
        (
            FixtureRegion(
                "heating_region", "", (0, 0, t), (hw - t - 0.01, hd - 0.02), MW_H - 2 * t
            ),
            FixtureRegion("top_side", "", (0, 0, MW_H), (hw, hd)),
        ),
        (FixtureJoint("door_hinge", "door", 1.2, 0.05, -1.0, 1.6),),
        (("main", "door"),),
        footprint=(hw, hd + 0.05),
    )


# --- desk caddy: an open box with four compartments ---------------------------------------
CADDY = (0.36, 0.22, 0.08)  # x, y, wall height


def _caddy() -> FixtureAsset:
    lx, ly, h = CADDY
    hx, hy, t = lx / 2, ly / 2, 0.006
    c = "0.3 0.3 0.35 1"
    split = 0.06  # back / front compartments are the x > split, x < -split bands
    xml = (
        _g("{n}_floor", (hx, hy, t / 2), (0, 0, t / 2), c)
        + _g("{n}_wxp", (t / 2, hy, h / 2), (hx - t / 2, 0, h / 2), c)
        + _g("{n}_wxm", (t / 2, hy, h / 2), (-hx + t / 2, 0, h / 2), c)
        + _g("{n}_wyp", (hx, t / 2, h / 2), (0, hy - t / 2, h / 2), c)
        + _g("{n}_wym", (hx, t / 2, h / 2), (0, -hy + t / 2, h / 2), c)
        + _g("{n}_d0", (t / 2, hy, h / 2 * 0.8), (split, 0, h / 2 * 0.8), c)
        + _g("{n}_d1", (t / 2, hy, h / 2 * 0.8), (-split, 0, h / 2 * 0.8), c)
        + _g("{n}_d2", (split, t / 2, h / 2 * 0.8), (0, 0, h / 2 * 0.8), c)
    )
    band = (hx - split - t) / 2
    mid_x = split + t / 2 + band
    regions = (
        FixtureRegion("back_contain_region", "", (mid_x, 0, t), (band, hy - t), h),
        FixtureRegion("front_contain_region", "", (-mid_x, 0, t), (band, hy - t), h),
        FixtureRegion("left_contain_region", "", (0, hy / 2, t), (split - t, hy / 2 - t), h),
        FixtureRegion("right_contain_region", "", (0, -hy / 2, t), (split - t, hy / 2 - t), h),
    )
    return FixtureAsset("desk_caddy", "desk caddy", xml, regions, footprint=(hx, hy))


# --- two-layer shelf: open front (local -y), a middle board -----------------------------
SHELF = (0.40, 0.24, 0.28)  # width (x), depth (y), height


def _shelf() -> FixtureAsset:
    w, dpt, h = SHELF
    hw, hd, t = w / 2, dpt / 2, 0.012
    c = "0.6 0.42 0.25 1"
    mid = h / 2
    xml = (
        _g("{n}_bottom", (hw, hd, t / 2), (0, 0, t / 2), c)
        + _g("{n}_middle", (hw - t, hd, t / 2), (0, 0, mid), c)
        + _g("{n}_top", (hw, hd, t / 2), (0, 0, h - t / 2), c)
        + _g("{n}_left", (t / 2, hd, h / 2), (-hw + t / 2, 0, h / 2), c)
        + _g("{n}_right", (t / 2, hd, h / 2), (hw - t / 2, 0, h / 2), c)
        + _g("{n}_back", (hw, t / 2, h / 2), (0, hd - t / 2, h / 2), c)
    )
    inner = (hw - t - 0.01, hd - t - 0.01)
    regions = (
        FixtureRegion("bottom_region", "", (0, 0, t), inner, mid - t - t / 2),
        FixtureRegion("top_region", "", (0, 0, mid + t / 2), inner, h - mid - t - t / 2),
        FixtureRegion("top_side", "", (0, 0, h), (hw, hd)),
    )
    return FixtureAsset("wooden_two_layer_shelf", "shelf", xml, regions, footprint=(hw, hd))


FIXTURE_ASSETS: dict[str, FixtureAsset] = {
    a.kind: a
    for a in (
        _cabinet(
            "wooden_cabinet",
            "wooden cabinet",
            "0.55 0.36 0.2 1",
            "0.65 0.45 0.27 1",
            WOODEN_CABINET,
        ),
        # narrower: libero_10's wine bottle stands 10 cm beside its opened bottom drawer
        _cabinet(
            "white_cabinet",
            "white cabinet",
            "0.9 0.9 0.9 1",
            "0.96 0.96 0.96 1",
            CabinetShape(width=0.18),
        ),
        _stove(),
        _rack(),
        _microwave(),
        _caddy(),
        _shelf(),
    )
}


def get_fixture(kind: str) -> FixtureAsset:
    if kind not in FIXTURE_ASSETS:
        raise EnvConfigError("fixture type", kind, sorted(FIXTURE_ASSETS))
    return FIXTURE_ASSETS[kind]


def build_fixture_body(
    name: str, asset: FixtureAsset, pos: tuple[float, float, float], yaw: float
) -> ET.Element:
    """The fixture's static root body ``<name>_main`` at world ``pos`` (m), ``yaw`` (rad)."""
    inner = asset.body_xml.replace("{n}", name)
    x, y, z = pos
    return ET.fromstring(
        f'<body name="{name}_main" pos="{x:.5f} {y:.5f} {z:.5f}" euler="0 0 {yaw:.6f}">{inner}</body>'
    )


def fixture_excludes(name: str, asset: FixtureAsset) -> list[ET.Element]:
    return [
        ET.fromstring(f'<exclude body1="{name}_{a}" body2="{name}_{b}"/>')
        for a, b in asset.excludes
    ]
