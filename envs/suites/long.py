"""``long``: two-stage tasks in the kitchen scene, chaining goal-suite skills."""

from __future__ import annotations

from envs.spec import TaskSpec
from envs.suites import kitchen

SUITE = "long"

CHAINS = {
    "open_the_drawer_and_put_the_bowl_on_the_plate": (
        "open the drawer and put the bowl on the plate",
        (("Open", "drawer"), ("On", "bowl", "plate")),
        False,
    ),
    "turn_on_the_stove_and_put_the_bowl_on_it": (
        "turn on the stove and put the bowl on it",
        (("TurnedOn", "stove"), ("On", "bowl", "stove")),
        False,
    ),
    "stack_the_cubes_and_put_the_bowl_on_the_plate": (
        "stack the red cube on the green cube and put the bowl on the plate",
        (("Stacked", "cube_a", "cube_b"), ("On", "bowl", "plate")),
        False,
    ),
    "close_the_drawer_and_turn_on_the_stove": (
        "close the drawer and turn on the stove",
        (("Closed", "drawer"), ("TurnedOn", "stove")),
        True,
    ),
    "put_the_red_cube_in_the_drawer_and_close_it": (
        "put the red cube in the drawer and close it",
        (("In", "cube_a", "drawer"), ("Closed", "drawer")),
        True,
    ),
    "put_the_green_cube_in_the_bowl_and_turn_on_the_stove": (
        "put the green cube in the bowl and turn on the stove",
        (("In", "cube_b", "bowl"), ("TurnedOn", "stove")),
        False,
    ),
    "put_the_red_cube_on_the_plate_and_the_bowl_on_the_stove": (
        "put the red cube on the plate and the bowl on the stove",
        (("On", "cube_a", "plate"), ("On", "bowl", "stove")),
        False,
    ),
}


def tasks() -> list[TaskSpec]:
    return kitchen.tasks(SUITE, CHAINS, "long")
