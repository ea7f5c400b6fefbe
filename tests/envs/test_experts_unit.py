"""Unit tests of the scripted expert's pieces that need no simulator."""

from __future__ import annotations

import numpy as np
import pytest

from envs.experts import ExpertConfig, ExpertConfigError, Scene, UnsupportedPredicateError
from envs.experts.control import Context
from envs.experts.geometry import mat_to_rotvec, orientation_error, quat_to_mat, rot_z, wrap_angle
from envs.experts.planner import spot_in, spot_on, spot_region, validate_goal
from envs.experts.scene import Body


def _rotvec_to_mat(v: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(v)
    if angle < 1e-12:
        return np.eye(3)
    k = v / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


@pytest.mark.parametrize(
    "rotvec",
    [
        np.zeros(3),
        np.array([0.3, -0.2, 0.1]),
        np.array([0.0, 0.0, 3.0]),
        np.array([np.pi - 1e-5, 0, 0]),
    ],
)
def test_experts_rotvec_roundtrip(rotvec: np.ndarray) -> None:
    back = mat_to_rotvec(_rotvec_to_mat(rotvec))
    np.testing.assert_allclose(_rotvec_to_mat(back), _rotvec_to_mat(rotvec), atol=1e-6)


def test_experts_orientation_error_turns_current_into_target() -> None:
    current = quat_to_mat(np.array([1.0, 0.0, 0.0, 0.0]))
    target = rot_z(0.4) @ current
    err = orientation_error(target, current)
    np.testing.assert_allclose(err, [0.0, 0.0, 0.4], atol=1e-9)


def test_experts_wrap_angle_period() -> None:
    assert wrap_angle(3 * np.pi / 2) == pytest.approx(-np.pi / 2)
    assert wrap_angle(0.9 * np.pi, np.pi) == pytest.approx(-0.1 * np.pi)


def test_experts_body_extents_follow_rotation() -> None:
    quat = np.array([0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)])  # 90 deg about z
    b = Body("box", np.array([0.0, 0.0, 1.0]), quat, np.array([0.05, 0.02, 0.01]))
    np.testing.assert_allclose(b.world_half_extent, [0.02, 0.05, 0.01], atol=1e-9)
    assert b.top_z == pytest.approx(1.01)
    assert b.is_elongated()
    assert abs(wrap_angle(b.long_axis_yaw(), np.pi)) == pytest.approx(np.pi / 2)


def test_experts_action_is_clipped_and_holds_orientation() -> None:
    cfg = ExpertConfig()
    ctx = Context(
        cfg=cfg,
        obs={
            "eef_pos": np.zeros(3),
            "eef_quat": np.array([1.0, 0, 0, 0]),
            "gripper_qpos": np.zeros(2),
        },
    )
    ctx.yaw = 0.3
    a = ctx.action(np.array([1.0, -1.0, 0.001]), gripper=1.0, speed=0.5)
    assert a.shape == (7,)
    np.testing.assert_allclose(a[:2], [0.5, -0.5])
    assert a[2] == pytest.approx(cfg.pos_gain * 0.001)
    assert a[5] == pytest.approx(cfg.rot_gain * 0.3)
    assert a[6] == 1.0


def test_experts_spots() -> None:
    plate = Body(
        "plate",
        np.array([0.1, 0.2, 0.806]),
        np.array([0, 0, 0, 1.0]),
        np.array([0.07, 0.07, 0.006]),
    )
    scene = Scene(
        bodies={"plate": plate},
        sites={
            "basket:interior": np.array([0.3, -0.1, 0.806]),
            "region:left": np.array([0.0, 0.3, 0.8]),
        },
        scalars={"basket:rim_z": 0.86},
        table_z=0.8,
    )
    on = spot_on("plate")(scene)
    assert on.surface_z == pytest.approx(0.812)
    np.testing.assert_allclose(on.xy, [0.1, 0.2])
    inside = spot_in("basket")(scene)
    assert inside.surface_z == pytest.approx(0.86)
    region = spot_region("left")(scene)
    assert region.surface_z == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pos_gain", -1.0),
        ("fast_speed", 1.5),
        ("move_timeout", 0),
        ("noise_std", -0.1),
        ("max_grasp_retries", -1),
        ("top_down_quat", (1.0, 0.0)),
    ],
)
def test_experts_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ExpertConfigError, match=field):
        ExpertConfig(**{field: value})


def test_experts_unknown_predicate_names_allowed_ones() -> None:
    with pytest.raises(UnsupportedPredicateError, match="InRegion"):
        validate_goal([("Levitate", "milk")])


def test_experts_scene_lookup_error_lists_names() -> None:
    scene = Scene(bodies={})
    with pytest.raises(ValueError, match="drawer:handle"):
        scene.site("drawer:handle")


def _ctx_with(bodies: dict[str, Body]) -> Context:
    ctx = Context(
        cfg=ExpertConfig(),
        obs={
            "eef_pos": np.zeros(3),
            "eef_quat": np.array([1.0, 0, 0, 0]),
            "gripper_qpos": np.zeros(2),
        },
    )
    ctx.scene = Scene(bodies=bodies, table_z=0.8)
    return ctx


def _box(
    name: str, xy: tuple[float, float], half: tuple[float, float, float], yaw: float = 0.0
) -> Body:
    quat = np.array([0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)])
    return Body(name, np.array([xy[0], xy[1], 0.8 + half[2]]), quat, np.array(half))


def test_experts_grasp_yaw_closes_across_long_axis() -> None:
    from envs.experts.skills import grasp_yaw

    long_box = _box("butter", (0.0, 0.0), (0.02, 0.05, 0.015), yaw=0.3)
    ctx = _ctx_with({"butter": long_box})
    yaw = grasp_yaw(ctx, long_box)
    # Fingers (EE y axis) must be across the long (body y) axis: EE x along body y.
    assert abs(wrap_angle(yaw - (0.3 + np.pi / 2), np.pi)) < 1e-6


def test_experts_grasp_yaw_avoids_neighbour() -> None:
    from envs.experts.skills import _finger_clearance, grasp_yaw

    target = _box("bread", (0.0, 0.0), (0.024, 0.02, 0.024))
    # A can 7 cm away along y: fingers opening along world y (yaw 0) would land on it.
    can = _box("can", (0.0, -0.07), (0.023, 0.023, 0.04))
    ctx = _ctx_with({"bread": target, "can": can})
    assert _finger_clearance(ctx, target, 0.0) < 0.015
    yaw = grasp_yaw(ctx, target)
    assert abs(wrap_angle(yaw - np.pi / 2, np.pi)) < 1e-6
    # Without the neighbour the smaller wrist turn (yaw 0) is kept.
    alone = _ctx_with({"bread": target})
    assert abs(wrap_angle(grasp_yaw(alone, target), np.pi)) < 1e-6


def test_experts_path_top_sees_obstacles_on_the_way_only() -> None:
    cabinet = (np.array([0.1, -0.4, 0.8]), np.array([0.3, -0.14, 0.96]))
    scene = Scene(bodies={}, obstacles={"drawer": cabinet}, table_z=0.8)
    over = scene.path_top_z(np.array([0.0, -0.27]), np.array([0.2, 0.0]), margin_xy=0.05)
    assert over == pytest.approx(0.96)
    clear = scene.path_top_z(np.array([-0.1, 0.1]), np.array([0.0, 0.3]), margin_xy=0.05)
    assert clear == pytest.approx(0.8)
    ignored = scene.path_top_z(
        np.array([0.0, -0.27]), np.array([0.2, 0.0]), margin_xy=0.05, ignore=("drawer",)
    )
    assert ignored == pytest.approx(0.8)
