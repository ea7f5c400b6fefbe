"""Task declarations as data: a BDDL-like spec (language, objects, fixtures, regions, goal).

Frames and units: positions are metres in the *table frame*: origin at the centre of the
table top, x pointing away from the robot (the robot stands at negative x), y to the
robot's left, z up. Angles are radians about +z.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envs.errors import TaskSpecError

#: goal predicate name -> number of arguments
PREDICATE_ARITY: dict[str, int] = {
    "On": 2,  # (On a b): a rests on top of b (object or fixture surface)
    "In": 2,  # (In a b): a is inside container b (basket, bowl, drawer)
    "Open": 1,  # (Open drawer): drawer opening above its open threshold
    "Closed": 1,  # (Closed drawer): drawer opening below its closed threshold
    "TurnedOn": 1,  # (TurnedOn stove): the stove's button is pressed in
    "TurnedOff": 1,
    "Stacked": 2,  # (Stacked a b): a is stacked on b (block on block)
    "InRegion": 2,  # (InRegion a region): a's centre lies within the named placement region
}


@dataclass(frozen=True)
class Region:
    """A rectangle on the table top (table frame, m) used for placement or InRegion goals."""

    name: str
    center: tuple[float, float]
    half_size: tuple[float, float]

    def contains(self, x: float, y: float) -> bool:
        return (
            abs(x - self.center[0]) <= self.half_size[0]
            and abs(y - self.center[1]) <= self.half_size[1]
        )


@dataclass(frozen=True)
class ObjectSpec:
    """A movable object: catalog kind, placement region, optional colour and yaw range (rad)."""

    name: str
    kind: str
    region: str
    rgba: tuple[float, float, float, float] | None = None
    yaw_range: tuple[float, float] = (-0.3, 0.3)


@dataclass(frozen=True)
class FixtureSpec:
    """A fixture bolted to the table at ``pos`` (table frame, m) with yaw (rad).

    ``init`` sets articulation state at the start of every episode, e.g.
    ``(("opening", 0.14),)`` starts a drawer open by 14 cm.
    """

    name: str
    kind: str
    pos: tuple[float, float]
    yaw: float = 0.0
    init: tuple[tuple[str, float], ...] = ()


# Task categories (RAPID's pick-place / drawer / peg split, plus the kinds our suites add).
TASK_CATEGORIES: tuple[str, ...] = ("pick_place", "drawer", "button", "push", "long")


@dataclass(frozen=True)
class TaskSpec:
    """One task. ``goal`` is a conjunction of predicates, e.g. ``(("In", "milk", "basket"),)``."""

    suite: str
    name: str
    language: str
    objects: tuple[ObjectSpec, ...]
    fixtures: tuple[FixtureSpec, ...] = ()
    regions: tuple[Region, ...] = ()
    goal: tuple[tuple[str, ...], ...] = ()
    tags: tuple[str, ...] = field(default=())
    category: str = "pick_place"  # one of TASK_CATEGORIES

    @property
    def gym_id(self) -> str:
        return f"LiberoLike/{self.suite}-{self.name}-v0"

    def object(self, name: str) -> ObjectSpec:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(name)

    def fixture(self, name: str) -> FixtureSpec:
        for f in self.fixtures:
            if f.name == name:
                return f
        raise KeyError(name)

    def region(self, name: str) -> Region:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)

    def entity_names(self) -> list[str]:
        return [o.name for o in self.objects] + [f.name for f in self.fixtures]

    def validate(self) -> None:
        """Raise TaskSpecError when names, regions or predicates do not line up."""
        if self.category not in TASK_CATEGORIES:
            raise TaskSpecError(
                f"{self.gym_id}: category={self.category!r} is not allowed; allowed: "
                f"{', '.join(TASK_CATEGORIES)}"
            )
        names = self.entity_names()
        if len(set(names)) != len(names):
            raise TaskSpecError(f"{self.gym_id}: duplicate object/fixture names in {names}")
        regions = {r.name for r in self.regions}
        for o in self.objects:
            if o.region not in regions:
                raise TaskSpecError(
                    f"{self.gym_id}: object {o.name!r} placed in unknown region {o.region!r}; "
                    f"regions: {sorted(regions)}"
                )
        if not self.goal:
            raise TaskSpecError(f"{self.gym_id}: empty goal")
        for pred in self.goal:
            head, args = pred[0], pred[1:]
            if head not in PREDICATE_ARITY:
                raise TaskSpecError(
                    f"{self.gym_id}: unknown predicate {head!r}; allowed: {sorted(PREDICATE_ARITY)}"
                )
            if len(args) != PREDICATE_ARITY[head]:
                raise TaskSpecError(
                    f"{self.gym_id}: {head} takes {PREDICATE_ARITY[head]} args, got {args}"
                )
            for i, a in enumerate(args):
                if head == "InRegion" and i == 1:
                    if a not in regions:
                        raise TaskSpecError(f"{self.gym_id}: unknown region {a!r} in {pred}")
                elif a not in names:
                    raise TaskSpecError(
                        f"{self.gym_id}: unknown entity {a!r} in {pred}; known: {names}"
                    )
