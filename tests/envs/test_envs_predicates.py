"""Goal predicates evaluated from simulator state (objects teleported into place)."""

import mujoco
import numpy as np
import pytest

import envs
from envs import catalog


def _teleport(env, name, xyz):
    base = env.unwrapped
    adr = base.model.joint(base.sim.free_joint_name(name)).qposadr[0]
    lo, _ = base.query.aabb(name)
    pos = base.query.body_pos(name)
    base.data.qpos[adr : adr + 3] = [xyz[0], xyz[1], xyz[2] + (pos[2] - lo[2])]
    base.data.qpos[adr + 3 : adr + 7] = [1, 0, 0, 0]
    mujoco.mj_forward(base.model, base.data)


def _settle(env, n=15):
    info = {}
    term = False
    for _ in range(n):
        _, _, term, _, info = env.step(np.array([0, 0, 0, 0, 0, 0, -1.0]))
        if term:
            break
    return term, info


@pytest.fixture
def kitchen():
    env = envs.make_env("goal", "put_the_bowl_on_the_plate", render=False)
    env.reset(options={"init_state": 0})
    yield env
    env.close()


def test_in_basket_terminates_with_success():
    env = envs.make_env("object", "milk_in_basket", render=False)
    try:
        env.reset(options={"init_state": 4})
        ps = env.unwrapped.privileged_state()
        c = ps["fixtures"]["basket"]["center"]
        _teleport(env, "milk", (c[0], c[1], c[2] + 0.002))
        term, info = _settle(env)
        assert term
        assert info["is_success"]
    finally:
        env.close()


def test_on_plate_false_then_true(kitchen):
    assert not kitchen.unwrapped.is_success()
    plate = kitchen.unwrapped.privileged_state()["objects"]["plate"]
    _teleport(kitchen, "bowl", (plate["pos"][0] + 0.1, plate["pos"][1], 0.8))  # beside, on table
    term, _ = _settle(kitchen, 5)
    assert not term
    _teleport(kitchen, "bowl", (plate["pos"][0], plate["pos"][1], plate["top_z"] + 0.001))
    term, info = _settle(kitchen)
    assert term
    assert info["is_success"]


def test_drawer_stove_stacked_in_predicates(kitchen):
    base = kitchen.unwrapped
    q = base.query
    task = envs.get_task("long", "close_the_drawer_and_turn_on_the_stove")
    from envs.predicates import PredicateTolerances, holds

    tol = PredicateTolerances()
    assert holds(q, task, ("Closed", "drawer"), tol)
    assert not holds(q, task, ("Open", "drawer"), tol)
    assert holds(q, task, ("TurnedOff", "stove"), tol)
    base.data.qpos[base.model.joint("drawer_slide").qposadr[0]] = (
        catalog.DRAWER_OPEN_THRESHOLD + 0.01
    )
    base.data.qpos[base.model.joint("stove_button").qposadr[0]] = (
        -catalog.BUTTON_ON_THRESHOLD - 0.002
    )
    mujoco.mj_forward(base.model, base.data)
    assert holds(q, task, ("Open", "drawer"), tol)
    assert holds(q, task, ("TurnedOn", "stove"), tol)
    # the latch: after a few steps the drawer and button stay where they were left
    _settle(kitchen, 10)
    ps = base.privileged_state()
    assert ps["fixtures"]["drawer"]["is_open"]
    assert ps["fixtures"]["stove"]["is_on"]
    # stack red on green
    b = ps["objects"]["cube_b"]
    _teleport(kitchen, "cube_a", (b["pos"][0], b["pos"][1], b["top_z"] + 0.001))
    _settle(kitchen, 10)
    assert holds(q, task, ("Stacked", "cube_a", "cube_b"), tol)
    assert not holds(q, task, ("Stacked", "cube_b", "cube_a"), tol)
    # a cube in the (open) drawer
    d = base.privileged_state()["fixtures"]["drawer"]
    _teleport(
        kitchen,
        "cube_b",
        (d["inner_center"][0] - 0.02, d["inner_center"][1], d["inner_center"][2] + 0.001),
    )
    _settle(kitchen, 10)
    assert holds(q, task, ("In", "cube_b", "drawer"), tol)
    assert not holds(q, task, ("In", "cube_a", "drawer"), tol)
    # InRegion
    assert not holds(q, task, ("InRegion", "plate", "front_region"), tol)
    _teleport(kitchen, "plate", (-0.2, 0.26, 0.8))
    assert holds(q, task, ("InRegion", "plate", "front_region"), tol)


def test_privileged_state_layout(kitchen):
    ps = kitchen.unwrapped.privileged_state()
    for o in ps["objects"].values():
        assert o["pos"].shape == (3,)
        assert o["quat"].shape == (4,)
        assert o["half_size"].shape == (3,)
        assert o["top_z"] > o["bottom_z"]
    d = ps["fixtures"]["drawer"]
    assert d["open_threshold"] > d["closed_threshold"] >= 0
    assert d["handle_pos"].shape == (3,)
    np.testing.assert_allclose(d["pull_direction"], [-1, 0, 0], atol=1e-9)
    s = ps["fixtures"]["stove"]
    assert s["button_pos"][2] > 0.8
    assert not s["is_on"]
    assert 0 <= ps["gripper_opening"] <= 0.085
    assert set(ps["regions"]) >= {"front_region"}
