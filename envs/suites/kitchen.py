"""The shared kitchen scene of the ``goal`` and ``long`` suites."""

from __future__ import annotations

from envs.catalog import DRAWER_TRAVEL
from envs.spec import FixtureSpec, ObjectSpec, Region, TaskSpec

RED = (0.85, 0.12, 0.1, 1.0)
GREEN = (0.1, 0.65, 0.2, 1.0)

OBJECTS = (
    ObjectSpec("bowl", "bowl", "bowl_region", rgba=(0.08, 0.08, 0.08, 1.0)),
    ObjectSpec("plate", "plate", "plate_region"),
    ObjectSpec("cube_a", "cube", "cube_a_region", rgba=RED),
    ObjectSpec("cube_b", "cube", "cube_b_region", rgba=GREEN),
)
REGIONS = (
    Region("bowl_region", (-0.08, 0.0), (0.04, 0.05)),
    Region("plate_region", (0.0, 0.26), (0.03, 0.03)),
    Region("cube_a_region", (-0.14, -0.12), (0.04, 0.04)),
    Region("cube_b_region", (0.02, -0.06), (0.03, 0.03)),
    Region("front_region", (-0.2, 0.26), (0.08, 0.1)),
)


def fixtures(drawer_open: bool = False) -> tuple[FixtureSpec, ...]:
    init = (("opening", DRAWER_TRAVEL * 0.9),) if drawer_open else ()
    return (
        FixtureSpec("drawer", "cabinet", (0.2, -0.27), init=init),
        FixtureSpec("stove", "stove", (0.18, 0.1)),
    )


def tasks(
    suite: str, table: dict[str, tuple[str, tuple, bool]], categories: dict[str, str] | str
) -> list[TaskSpec]:
    """Kitchen-scene tasks from ``{name: (instruction, goal predicates, drawer starts open)}``.

    ``categories``: the task category of every task (``envs.spec.TASK_CATEGORIES``), or one for all.
    """
    return [
        TaskSpec(
            suite=suite,
            name=name,
            language=lang,
            objects=OBJECTS,
            fixtures=fixtures(drawer_open),
            regions=REGIONS,
            goal=goal,
            category=categories if isinstance(categories, str) else categories[name],
        )
        for name, (lang, goal, drawer_open) in table.items()
    ]
