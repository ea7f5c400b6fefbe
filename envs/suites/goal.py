"""``goal``: one kitchen scene, different goals (drawer, stove, bowl, plate, cubes)."""

from __future__ import annotations

from envs.spec import TaskSpec
from envs.suites import kitchen

SUITE = "goal"

# name -> (instruction, goal predicates, drawer starts open)
GOALS = {
    "open_the_drawer": ("open the drawer", (("Open", "drawer"),), False),
    "close_the_drawer": ("close the drawer", (("Closed", "drawer"),), True),
    "turn_on_the_stove": ("turn on the stove", (("TurnedOn", "stove"),), False),
    "put_the_bowl_on_the_plate": ("put the bowl on the plate", (("On", "bowl", "plate"),), False),
    "put_the_bowl_on_the_stove": ("put the bowl on the stove", (("On", "bowl", "stove"),), False),
    "stack_the_red_cube_on_the_green_cube": (
        "stack the red cube on the green cube",
        (("Stacked", "cube_a", "cube_b"),),
        False,
    ),
    "put_the_red_cube_on_the_plate": (
        "put the red cube on the plate",
        (("On", "cube_a", "plate"),),
        False,
    ),
    "push_the_plate_to_the_front": (
        "push the plate to the front",
        (("InRegion", "plate", "front_region"),),
        False,
    ),
    "put_the_green_cube_in_the_bowl": (
        "put the green cube in the bowl",
        (("In", "cube_b", "bowl"),),
        False,
    ),
    "put_the_red_cube_in_the_drawer": (
        "put the red cube in the open drawer",
        (("In", "cube_a", "drawer"),),
        True,
    ),
}


# Task category (envs.spec.TASK_CATEGORIES): what kind of motion the task is.
CATEGORIES = {
    name: {"open_the_drawer": "drawer", "close_the_drawer": "drawer",
           "turn_on_the_stove": "button", "push_the_plate_to_the_front": "push"}.get(name, "pick_place")
    for name in GOALS
}  # fmt: skip


def tasks() -> list[TaskSpec]:
    return kitchen.tasks(SUITE, GOALS, CATEGORIES)
