"""libero_spatial: the stand-in geometry and grasps behind tasks 4, 5 and 6 (issue 23).

Each check fails on the assets / expert before the fix: the ramekin came up wedged under the
bowl (task 5), the hand came down on the cabinet top (task 4), the whole-bowl grasp at the
far side of the table ran into the arm's joint limits (task 6).
"""

import mujoco
import numpy as np
import pytest

from envs.libero.assets import get_asset
from envs.libero.expert import RIM_GRASP_REACH, Grasp, LiberoExpert, grasp_for
from envs.libero.files import task_names
from envs.libero.fixtures import WOODEN_CABINET, get_fixture
from envs.libero.make import make_libero_env

SPATIAL = task_names("libero_spatial")
BOWL = "akita_black_bowl_1"
RAMEKIN = "glazed_rim_porcelain_ramekin_1"


def _run_expert(env, init_state: int) -> tuple[bool, LiberoExpert]:
    obs, _ = env.reset(options={"init_state": init_state})
    expert = LiberoExpert()
    expert.reset(env)
    terminated = truncated = False
    while not (terminated or truncated):
        obs, _, terminated, truncated, _ = env.step(expert.act(obs))
    return terminated, expert


def test_ramekin_is_liberos_size_and_holds_the_bowl_on_its_rim():
    ramekin, bowl = get_asset("glazed_rim_porcelain_ramekin"), get_asset("akita_black_bowl")
    # LIBERO's ramekin collision boxes: 8.2 cm across, 4.2 cm tall (not shrunk below it)
    assert 2 * ramekin.half[0] == pytest.approx(0.082, abs=0.002)
    assert 2 * ramekin.half[2] == pytest.approx(0.042, abs=0.002)
    # the opening (container half size) is narrower than the bowl's outer radius
    assert ramekin.container[0] < bowl.half[0] - 0.003


def test_bowl_on_the_ramekin_leaves_the_ramekin_on_the_table():
    env = make_libero_env("libero_spatial", SPATIAL[5], render=False)
    try:
        u = env.unwrapped
        env.reset(options={"init_state": 0})
        q = u.libero_query
        bowl_lo, _ = q.aabb(BOWL)
        _, ramekin_hi = q.aabb(RAMEKIN)
        assert bowl_lo[2] > ramekin_hi[2] - 0.01  # resting on the rim, not sunk in
        ramekin_start = q.pos(RAMEKIN).copy()
        ok, expert = _run_expert(env, 0)
        assert ok, expert.phase
        assert np.linalg.norm(q.pos(RAMEKIN) - ramekin_start) < 0.01
    finally:
        env.close()


def test_wooden_cabinet_is_liberos_and_the_drawer_bowl_stands_clear_of_its_top():
    # LIBERO's wooden_cabinet.xml: carcass y -0.078 .. 0.110, top at 0.223 m
    assert WOODEN_CABINET.y0 - WOODEN_CABINET.depth / 2 == pytest.approx(-0.078, abs=0.003)
    assert WOODEN_CABINET.y0 + WOODEN_CABINET.depth / 2 == pytest.approx(0.110, abs=0.003)
    assert WOODEN_CABINET.height == pytest.approx(0.223, abs=0.003)
    assert get_fixture("wooden_cabinet").region("top_side").center[2] == WOODEN_CABINET.height
    env = make_libero_env("libero_spatial", SPATIAL[4], render=False)
    try:
        u = env.unwrapped
        cab = u.scene.fixture("wooden_cabinet_1")
        front = WOODEN_CABINET.y0 - WOODEN_CABINET.depth / 2
        rot = np.array([[np.cos(cab.yaw), np.sin(cab.yaw)], [-np.sin(cab.yaw), np.cos(cab.yaw)]])
        for i in range(50):
            env.reset(options={"init_state": i})
            local = rot @ (u.libero_query.pos(BOWL)[:2] - np.asarray(cab.pos))
            # the bowl's near edge in front of the top panel's edge (0.7 .. 2.7 cm over the 50
            # states; the centred 22 cm carcass reached up to 2.4 cm over the bowl)
            assert front - (local[1] + get_asset("akita_black_bowl").half[0]) > 0.005, i
        geom = u.model.geom("wooden_cabinet_1_top").id
        top_z = u.data.geom_xpos[geom][2] + u.model.geom_size[geom][2]
        _, bowl_hi = u.libero_query.aabb(BOWL)
        assert bowl_hi[2] > top_z - 0.04  # the rim within 4 cm of the top (it was 5.6 cm)
    finally:
        env.close()


@pytest.mark.parametrize(("task", "init_state"), [(4, 1), (6, 0), (1, 10)])
def test_expert_takes_the_drawer_far_and_side_bowls(task, init_state):
    """(1, 10): the stock yaw put the wrist at its limit (joint 7 = 2.90 rad)."""
    env = make_libero_env("libero_spatial", SPATIAL[task], render=False)
    try:
        env.reset(options={"init_state": init_state})
        grasp = grasp_for(env, BOWL)
        u = env.unwrapped
        if task == 4:  # in the drawer: fingers across it (cabinet yaw + pi/2), centre grasp
            yaw = u.scene.fixture("wooden_cabinet_1").yaw + np.pi / 2
            assert grasp.rim_dir is None
            assert np.sin(grasp.yaw - yaw) == pytest.approx(0.0, abs=1e-9)
        elif task == 6:  # beyond the whole-bowl reach: the near wall, towards the robot
            base = u.data.xpos[u.model.body("robot0_base").id][:2]
            assert np.linalg.norm(base - u.libero_query.pos(BOWL)[:2]) > RIM_GRASP_REACH
            assert grasp.rim_dir is not None
            assert grasp.rim_dir[0] < -0.9
        else:
            assert grasp == Grasp()
        q7 = []
        obs, _ = env.reset(options={"init_state": init_state})
        expert = LiberoExpert()
        expert.reset(env)
        terminated = truncated = False
        while not (terminated or truncated):
            action = expert.act(obs)
            if expert.phase == "close":
                q7.append(obs["joint_pos"][6])
            obs, _, terminated, truncated, _ = env.step(action)
        assert terminated, expert.phase
        assert max(abs(v) for v in q7) < 2.8  # the wrist off its limit (2.8973) at the grasp
        mujoco.mj_forward(u.model, u.data)
        assert u.goal_status() == {f"(On {BOWL} plate_1)": True}
    finally:
        env.close()
