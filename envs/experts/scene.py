"""A read-only snapshot of the privileged simulator state the expert plans on.

The scripted expert never reads pixels: it reads object poses, sizes and fixture
sites straight from the simulator. :class:`Scene` is the one shape it consumes;
adapters (``from_privileged_state`` for this project's suites,
:mod:`envs.experts.robosuite_scene` for stock robosuite tasks) build it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from envs.experts.errors import SceneLookupError
from envs.experts.geometry import quat_to_mat


@dataclass(frozen=True)
class Body:
    """One free object: pose in the world frame and its bounding box.

    Attributes:
        name: object name as used in goal predicates.
        pos: (3,) centre of the bounding box, world frame (m).
        quat: (4,) orientation (x, y, z, w).
        half_size: (3,) bounding-box half extents in the object's own frame (m).
    """

    name: str
    pos: np.ndarray
    quat: np.ndarray
    half_size: np.ndarray

    @property
    def rot(self) -> np.ndarray:
        """(3, 3) rotation matrix of the object."""
        return quat_to_mat(self.quat)

    @property
    def world_half_extent(self) -> np.ndarray:
        """(3,) half extents (m) of the world-axis-aligned box around the object."""
        return np.abs(self.rot) @ np.asarray(self.half_size, dtype=float)

    @property
    def top_z(self) -> float:
        """Height of the object's highest point (m)."""
        return float(self.pos[2] + self.world_half_extent[2])

    @property
    def bottom_z(self) -> float:
        """Height of the object's lowest point (m)."""
        return float(self.pos[2] - self.world_half_extent[2])

    def long_axis_yaw(self) -> float:
        """Heading (rad) of the object's longer horizontal axis in the world xy plane."""
        rot = self.rot
        # Pick the body axis that is most horizontal and longest once projected.
        best, best_len = 0.0, -1.0
        for i in range(3):
            axis = rot[:, i]
            horiz = np.hypot(axis[0], axis[1])
            length = self.half_size[i] * horiz
            if horiz > 0.5 and length > best_len:
                best, best_len = float(np.arctan2(axis[1], axis[0])), length
        return best

    def is_elongated(self, ratio: float = 1.25) -> bool:
        """True when the horizontal footprint is noticeably longer one way than the other."""
        ext = self.world_half_extent[:2]
        return bool(max(ext) > ratio * max(min(ext), 1e-6))


@dataclass(frozen=True)
class Scene:
    """Snapshot of everything a skill may read.

    Attributes:
        bodies: free objects by name.
        sites: named fixture points, world frame (m) (drawer handle, region centres...).
        vectors: named unit directions (e.g. a drawer's opening direction).
        joints: articulation positions (m for slides, rad for hinges) by name.
        scalars: other named numbers (thresholds, radii) in SI units.
        table_z: height of the table surface (m).
        obstacles: fixed or articulated fixtures as world-axis-aligned boxes
            ``(lo (3,), hi (3,))`` in m, by fixture name.
    """

    bodies: Mapping[str, Body]
    sites: Mapping[str, np.ndarray] = field(default_factory=dict)
    vectors: Mapping[str, np.ndarray] = field(default_factory=dict)
    joints: Mapping[str, float] = field(default_factory=dict)
    scalars: Mapping[str, float] = field(default_factory=dict)
    table_z: float = 0.0
    obstacles: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def path_top_z(
        self,
        start_xy: np.ndarray,
        end_xy: np.ndarray,
        *,
        margin_xy: float,
        ignore: tuple[str, ...] = (),
        samples: int = 24,
    ) -> float:
        """Highest point (m) of any object or fixture within ``margin_xy`` (m) of the segment.

        Returns ``table_z`` when nothing is near the straight xy path.
        """
        pts = np.linspace(np.asarray(start_xy, float), np.asarray(end_xy, float), samples)
        top = self.table_z
        boxes = [(n, lo, hi) for n, (lo, hi) in self.obstacles.items()]
        for n, b in self.bodies.items():
            ext = b.world_half_extent
            boxes.append((n, b.pos - ext, b.pos + ext))
        for name, lo, hi in boxes:
            if name in ignore or hi[2] <= top:
                continue
            inside = np.all((pts >= lo[:2] - margin_xy) & (pts <= hi[:2] + margin_xy), axis=1)
            if inside.any():
                top = float(hi[2])
        return top

    def body(self, name: str) -> Body:
        """The object called ``name``; raises :class:`SceneLookupError` when absent."""
        try:
            return self.bodies[name]
        except KeyError as e:
            raise SceneLookupError("object", name, list(self.bodies)) from e

    def site(self, name: str) -> np.ndarray:
        """(3,) position (m) of the fixture site ``name``."""
        try:
            return np.asarray(self.sites[name], dtype=float)
        except KeyError as e:
            raise SceneLookupError("site", name, list(self.sites)) from e

    def vector(self, name: str) -> np.ndarray:
        """(3,) unit direction called ``name``."""
        try:
            return np.asarray(self.vectors[name], dtype=float)
        except KeyError as e:
            raise SceneLookupError("vector", name, list(self.vectors)) from e

    def joint(self, name: str) -> float:
        """Position of articulation ``name`` (m or rad)."""
        try:
            return float(self.joints[name])
        except KeyError as e:
            raise SceneLookupError("joint", name, list(self.joints)) from e

    def scalar(self, name: str) -> float:
        """Named number (SI units)."""
        try:
            return float(self.scalars[name])
        except KeyError as e:
            raise SceneLookupError("scalar", name, list(self.scalars)) from e
