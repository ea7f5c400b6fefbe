"""``spatial``: the same objects every time; the target bowl is named by where it is.

Three identical black bowls, a plate, a cookie box and a cabinet. Each task's layout
puts ``bowl_1`` (always the target) where its instruction says. "left" is the robot's
left (+y), "front" is towards the robot (-x).
"""

from __future__ import annotations

from envs.spec import FixtureSpec, ObjectSpec, Region, TaskSpec

SUITE = "spatial"
BLACK = (0.08, 0.08, 0.08, 1.0)
CABINET = FixtureSpec("drawer", "cabinet", (0.22, -0.27))
J = (0.025, 0.025)  # placement jitter half size (m)

# named table spots (table frame, m)
SPOTS = {
    "L": (0.0, 0.22),
    "R": (-0.04, -0.14),
    "C": (0.02, 0.03),
    "FL": (-0.15, 0.14),
    "FR": (-0.15, -0.12),
    "BL": (0.15, 0.16),
    "BC": (0.15, 0.0),
    "F": (-0.16, 0.02),
    "CAB": (-0.02, -0.27),
    "FFR": (-0.2, -0.25),
}

# task name -> (instruction, spot of bowl_1, bowl_2, bowl_3, plate, cookies)
LAYOUTS = {
    "left_bowl_on_plate": ("the black bowl on the left", "L", "C", "R", "F", "BL"),
    "right_bowl_on_plate": ("the black bowl on the right", "R", "C", "L", "F", "BL"),
    "middle_bowl_on_plate": ("the black bowl in the middle", "C", "L", "R", "F", "BL"),
    "front_bowl_on_plate": ("the black bowl at the front", "FL", "BL", "BC", "R", "FFR"),
    "back_bowl_on_plate": ("the black bowl at the back", "BC", "FL", "F", "R", "BL"),
    "bowl_next_to_cookies_on_plate": (
        "the black bowl next to the cookie box",
        "BL",
        "FR",
        "F",
        "C",
        "L",
    ),
    "bowl_next_to_plate_on_plate": ("the black bowl next to the plate", "FR", "BL", "L", "F", "C"),
    "bowl_between_plate_and_cookies_on_plate": (
        "the black bowl between the plate and the cookie box",
        "C",
        "FFR",
        "BL",
        "L",
        "R",
    ),
    "bowl_in_front_of_cabinet_on_plate": (
        "the black bowl in front of the cabinet",
        "CAB",
        "L",
        "BC",
        "F",
        "FL",
    ),
    "bowl_far_from_plate_on_plate": (
        "the black bowl far from the plate",
        "BL",
        "FR",
        "R",
        "FFR",
        "F",
    ),
}


def tasks() -> list[TaskSpec]:
    out = []
    for name, (phrase, *spots) in LAYOUTS.items():
        names = ["bowl_1", "bowl_2", "bowl_3", "plate", "cookies"]
        kinds = ["bowl", "bowl", "bowl", "plate", "cookies"]
        regions = tuple(Region(f"{n}_region", SPOTS[s], J) for n, s in zip(names, spots))
        objects = tuple(
            ObjectSpec(
                n, k, f"{n}_region", rgba=BLACK if k == "bowl" else None, yaw_range=(-0.2, 0.2)
            )
            for n, k in zip(names, kinds)
        )
        out.append(
            TaskSpec(
                suite=SUITE,
                name=name,
                language=f"pick up {phrase} and place it on the plate",
                objects=objects,
                fixtures=(CABINET,),
                regions=regions,
                goal=(("On", "bowl_1", "plate"),),
            )
        )
    return out
