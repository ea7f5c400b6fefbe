"""Tunable parameters of the scripted expert (one dataclass, validated on construction)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from envs.experts.errors import ExpertConfigError


@dataclass
class ExpertConfig:
    """Gains, heights, tolerances and timeouts of the scripted expert.

    Distances are metres (m), angles radians (rad), durations control steps
    (one step = 1/20 s at the suite's 20 Hz). Action units are the env's
    normalised [-1, 1] range: with robosuite's default OSC_POSE scaling one unit
    is 0.05 m of position goal offset and 0.5 rad of rotation per step.
    """

    # --- EE-space proportional controller ---
    pos_gain: float = 12.0
    """Action units per metre of position error (before clipping)."""
    vel_damping: float = 8.0
    """Action units per (m/step) of EE velocity subtracted from the position command."""
    rot_gain: float = 2.0
    """Action units per radian of orientation error (before clipping)."""
    fast_speed: float = 1.0
    """Largest position action (units) in free-space moves."""
    slow_speed: float = 0.5
    """Largest position action (units) near contact (descend, release, press)."""
    pos_tolerance: float = 0.012
    """A free-space waypoint counts as reached within this distance (m)."""
    fine_tolerance: float = 0.006
    """A contact waypoint (grasp, place, press) counts as reached within this distance (m)."""
    move_timeout: int = 60
    """Steps allowed to reach one waypoint before the primitive reports failure."""

    # --- grasp geometry ---
    top_down_quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    """End-effector orientation (x, y, z, w) of a top-down grasp at yaw 0, in the frame of the
    ``eef_quat`` observation; yaw is applied about the world z axis on top of it."""
    approach_height: float = 0.08
    """Pre-grasp height of the EE above the object's top (m)."""
    grasp_depth: float = 0.025
    """How far below the object's top the fingertips close (m); clamped to the object."""
    transit_clearance: float = 0.04
    """Height of the fingertips above any object or fixture passed over in transit (m)."""
    transit_margin: float = 0.06
    """Half-width (m) of the corridor around a straight move checked for obstacles (the hand is wide)."""
    max_finger_depth: float = 0.04
    """Deepest the fingertips go below an object's top (m); deeper and the hand hits it."""
    finger_clearance: float = 0.012
    """Lowest EE height above the table/support surface (m) so the fingers do not hit it."""
    lift_height: float = 0.12
    """Height the object is raised above its start before carrying (m)."""
    carry_clearance: float = 0.10
    """Carry height of the held object's bottom above the place target's top (m)."""
    place_clearance: float = 0.02
    """Height of the held object's bottom above the place surface when released (m)."""
    retreat_height: float = 0.10
    """Rise of the EE after releasing (m)."""
    lift_check: float = 0.03
    """A grasp is confirmed when the object rose by at least this much (m)."""
    min_grip_width: float = 0.004
    """Finger opening (m) below which the gripper is considered to have closed on nothing."""
    gripper_settle: int = 10
    """Steps to hold still while the gripper closes or opens."""
    max_grasp_retries: int = 3
    """Regrasp attempts after a failed lift check."""
    max_grasp_width: float = 0.07
    """Objects whose narrower horizontal side exceeds this (m) are pushed, not grasped."""
    push_height: float = 0.005
    """EE height above the table while pushing (m); the closed fingertips sit a few mm lower."""
    push_lead: float = 0.08
    """Push target this far past the contact point, along the push direction (m)."""
    push_tolerance: float = 0.02
    """A push ends when the object's centre is this close to the goal (m)."""
    finger_reach: float = 0.05
    """Distance (m) from the grasp centre to each open fingertip's outer face."""
    finger_gap: float = 0.015
    """Free space (m) wanted around the open fingertips; below it the other yaw is tried."""

    # --- articulated fixtures ---
    drawer_pull_speed: float = 0.5
    """Largest position action (units) while pulling/pushing a drawer."""
    drawer_lead: float = 0.08
    """How far ahead of the handle (along the slide) the pull/push target is set (m)."""
    handle_grasp_offset: float = 0.018
    """Grasp the handle this far out from its site along the pull direction (m), so the
    wrist clears the cabinet front."""
    drawer_margin: float = 0.02
    """Extra travel beyond the joint's open/closed threshold (m)."""
    press_depth: float = 0.04
    """How far below a button's top the EE is commanded while pressing (m); deeper pushes harder."""

    # --- demonstrations ---
    noise_std: float = 0.0
    """Std of Gaussian noise added to the executed arm action (units; labels stay clean)."""
    noise_seed: int | None = None
    """Seed of the noise generator; None draws from the OS."""

    extra: dict = field(default_factory=dict)
    """Free-form notes recorded with demonstrations (not read by the expert)."""

    def __post_init__(self) -> None:
        positive = (
            "pos_gain",
            "rot_gain",
            "fast_speed",
            "slow_speed",
            "pos_tolerance",
            "fine_tolerance",
            "approach_height",
            "lift_height",
            "carry_clearance",
            "retreat_height",
            "lift_check",
            "drawer_pull_speed",
            "drawer_lead",
            "max_grasp_width",
            "push_lead",
            "push_tolerance",
        )
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
                raise ExpertConfigError(name, value, "a finite number > 0")
        for name in ("fast_speed", "slow_speed", "drawer_pull_speed"):
            if getattr(self, name) > 1.0:
                raise ExpertConfigError(name, getattr(self, name), "a number in (0, 1]")
        for name in ("move_timeout", "gripper_settle"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ExpertConfigError(name, value, "an integer >= 1")
        if not (isinstance(self.max_grasp_retries, int) and self.max_grasp_retries >= 0):
            raise ExpertConfigError("max_grasp_retries", self.max_grasp_retries, "an integer >= 0")
        if not (math.isfinite(self.noise_std) and self.noise_std >= 0):
            raise ExpertConfigError("noise_std", self.noise_std, "a finite number >= 0")
        if len(self.top_down_quat) != 4:
            raise ExpertConfigError("top_down_quat", self.top_down_quat, "4 numbers (x, y, z, w)")

    def as_dict(self) -> dict:
        """Plain dict of every field (for provenance attributes)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
