"""``object``: different target objects, same goal (place it in the basket).

Every scene holds the target, three distractors and the basket; objects are
identified by what they are, not where they are.
"""

from __future__ import annotations

from envs.catalog import OBJECT_KINDS
from envs.spec import FixtureSpec, ObjectSpec, Region, TaskSpec

SUITE = "object"
TARGETS = ("milk", "bread", "can", "lemon", "bottle", "butter", "pudding", "juice", "sauce", "soup")
N_DISTRACTORS = 3
REGIONS = (Region("table_area", (-0.04, -0.08), (0.13, 0.17)),)
BASKET = FixtureSpec("basket", "basket", (0.04, 0.24))


def tasks() -> list[TaskSpec]:
    out = []
    for i, target in enumerate(TARGETS):
        others = [TARGETS[(i + k) % len(TARGETS)] for k in (1, 4, 7)][:N_DISTRACTORS]
        objects = [ObjectSpec(target, target, "table_area")]
        objects += [ObjectSpec(o, o, "table_area") for o in others]
        noun = OBJECT_KINDS[target].noun
        out.append(
            TaskSpec(
                suite=SUITE,
                name=f"{target}_in_basket",
                language=f"pick up the {noun} and place it in the basket",
                objects=tuple(objects),
                fixtures=(BASKET,),
                regions=REGIONS,
                goal=(("In", target, "basket"),),
            )
        )
    return out
