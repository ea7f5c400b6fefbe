"""Rebuilt LIBERO tasks as gymnasium envs: registration, check_env, frames, init states, goals."""

import hashlib
import os
import re
import subprocess
import sys

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the ids)
from envs.libero import files
from envs.libero.bddl import parse_problem
from envs.libero.make import buildable_tasks, make_libero_env
from envs.libero.predicates import init_status
from envs.libero.scene import NotBuildableError, build_problems, gym_id, scene_from_problem

BUILT_SUITES = files.VENDORED_SUITES
ALL_TASKS = [(s, t) for s in BUILT_SUITES for t in files.task_names(s)]
MILK = "pick_up_the_milk_and_place_it_in_the_basket"
MOKA = "KITCHEN_SCENE3_turn_on_the_stove_and_put_the_moka_pot_on_it"


def test_ids_registered_beside_todays():
    ids = [k for k in gym.registry if k.startswith("LIBERO/") and "libero_90" not in k]
    assert sorted(ids) == sorted(gym_id(s, t) for s, t in ALL_TASKS)
    assert len(ids) == 40
    assert "LiberoLike/object-milk_in_basket-v0" in gym.registry
    for s in BUILT_SUITES:
        assert buildable_tasks(s) == files.task_names(s)


@pytest.mark.parametrize(("suite", "task"), ALL_TASKS)
def test_check_env_passes(suite, task):
    env = gym.make(gym_id(suite, task), image_size=32)
    try:
        check_env(env.unwrapped, skip_render_check=False)
        _obs, info = env.reset(seed=0, options={"init_state": 49})
        # LIBERO's benchmark language: the file name without its SCENE prefix
        assert info["language"] == re.sub(r"^[A-Z_]+SCENE\d+_", "", task).replace("_", " ")
        assert not info["is_success"]
        # every :init atom about objects and drawers holds once the state has settled
        status = init_status(env.unwrapped.libero_query)
        assert status
        assert all(status.values()), status
    finally:
        env.close()


def test_frames_change_while_the_arm_moves():
    env = make_libero_env("libero_object", MILK, image_size=128)
    try:
        obs0, _ = env.reset(seed=0)
        assert obs0["agentview_rgb"].shape == (128, 128, 3)
        obs = obs0
        for _ in range(10):
            obs, *_ = env.step(np.array([0.6, 0.0, -0.6, 0, 0, 0, -1.0]))
        moved = np.linalg.norm(obs["eef_pos"] - obs0["eef_pos"])
        assert moved > 0.05
        for k in ("agentview_rgb", "wrist_rgb"):
            diff = np.abs(obs[k].astype(int) - obs0[k].astype(int)).mean()
            assert diff > 1.0, k
    finally:
        env.close()


def test_init_states_are_liberos_mapped():
    env = make_libero_env("libero_object", MILK, render=False)
    u = env.unwrapped
    try:
        assert u.init_state_source == "libero"
        assert u.num_init_states == 50
        mapped = u._init_states.mapped
        for i in (0, 17, 49):
            obs, _ = env.reset(options={"init_state": i})
            np.testing.assert_allclose(obs["joint_pos"], mapped["robot_qpos"][i, :7], atol=1e-6)
            for j, o in enumerate(u.scene.objects):
                xy = u.libero_query.pos(o.name)[:2]
                assert np.hypot(*(xy - mapped["object_xy"][i, j])) < 0.005, o.name
        # LIBERO's robot noise differs per state
        assert np.ptp(mapped["robot_qpos"][:, 0]) > 0.01
    finally:
        env.close()


_HASH_SNIPPET = """
import hashlib, numpy as np
from envs.libero.make import make_libero_env
env = make_libero_env("libero_object", "{task}", image_size=64)
obs, _ = env.reset(seed=3, options={{"init_state": 5}})
h = hashlib.sha256()
for k in sorted(obs):
    h.update(np.ascontiguousarray(obs[k]).tobytes())
print("HASH", h.hexdigest())
"""


def _first_obs_hash_in_subprocess() -> str:
    env = dict(os.environ, MUJOCO_GL="egl", LP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", _HASH_SNIPPET.format(task=MILK)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    ).stdout
    return next(line.split()[1] for line in out.splitlines() if line.startswith("HASH"))


def test_same_init_state_gives_bit_identical_first_obs_in_two_processes():
    assert _first_obs_hash_in_subprocess() == _first_obs_hash_in_subprocess()


def _put(env, name, xyz):
    u = env.unwrapped
    adr = u.model.joint(f"{name}_joint0").qposadr[0]
    u.data.qpos[adr : adr + 3] = xyz
    u.data.qpos[adr + 3 : adr + 7] = (1, 0, 0, 0)
    mujoco.mj_forward(u.model, u.data)


def test_goal_holds_only_for_the_target_in_the_basket():
    env = make_libero_env("libero_object", MILK, render=False)
    u = env.unwrapped
    try:
        env.reset(options={"init_state": 0})
        basket = u.libero_query.pos("basket_1")
        _put(env, "butter_1", basket + np.array([0, 0, 0.0]))
        for _ in range(20):
            _, _, terminated, _, info = env.step(np.zeros(7))
        assert not info["is_success"]
        assert not terminated
        env.reset(options={"init_state": 0})
        _put(env, "milk_1", basket + np.array([0, 0, 0.05]))
        for _ in range(20):
            _, reward, terminated, _, info = env.step(np.zeros(7))
        assert info["is_success"]
        assert terminated
        assert reward == 1.0
        assert u.goal_status() == {"(In milk_1 basket_1_contain_region)": True}
        # lifted high above the basket: not in it
        _put(env, "milk_1", basket + np.array([0, 0, 0.3]))
        assert not u.is_success()
    finally:
        env.close()


def test_problems_we_cannot_build_say_why():
    text = files.bddl_path("libero_10", MOKA).read_text()
    text = text.replace("moka_pot_1 - moka_pot", "moka_pot_1 - teapot")
    text = text.replace("kitchen_table - kitchen_table", "kitchen_table - garden_table")
    problem = parse_problem(text, "edited.bddl")
    with pytest.raises(NotBuildableError) as e:
        scene_from_problem(problem, "libero_10")
    assert "garden_table" in str(e.value)
    assert "teapot" in str(e.value)
    assert e.value.reasons == build_problems(problem)


LIBERO_90_ROOT = os.environ.get(files.ROOT_ENV) or (
    "/tmp/hf-libero/x/libero/libero/bddl_files"
    if os.path.isdir("/tmp/hf-libero/x/libero/libero/bddl_files/libero_90")
    else None
)


@pytest.mark.skipif(LIBERO_90_ROOT is None, reason="needs LIBERO's bddl_files ($LIBERO_BDDL_ROOT)")
@pytest.mark.parametrize(
    "task",
    [
        "KITCHEN_SCENE9_put_the_frying_pan_on_the_cabinet_shelf",
        "LIVING_ROOM_SCENE3_pick_up_the_butter_and_put_it_in_the_tray",
        "STUDY_SCENE4_pick_up_the_book_in_the_middle_and_place_it_on_the_cabinet_shelf",
    ],
)
def test_libero_90_tasks_build_with_sampled_init_states(task):
    env = make_libero_env("libero_90", task, render=False, root=LIBERO_90_ROOT)
    u = env.unwrapped
    try:
        assert u.init_state_source == "sampled"
        _, info = env.reset(options={"init_state": 3})
        assert not info["is_success"]
        status = init_status(u.libero_query)
        assert status
        assert all(status.values()), status
    finally:
        env.close()


def _set_joint(env, name, value):
    u = env.unwrapped
    u.data.qpos[u.model.joint(name).qposadr[0]] = value
    mujoco.mj_forward(u.model, u.data)


def test_drawer_and_knob_predicates():
    env = make_libero_env("libero_goal", "open_the_middle_drawer_of_the_cabinet", render=False)
    u = env.unwrapped
    try:
        env.reset(options={"init_state": 0})
        assert not u.is_success()
        _set_joint(env, "wooden_cabinet_1_top_slide", 0.15)  # the wrong drawer
        assert not u.is_success()
        _set_joint(env, "wooden_cabinet_1_middle_slide", 0.15)
        assert u.is_success()
        # the drawer stays where it is left (friction), as LIBERO's do
        for _ in range(10):
            env.step(np.zeros(7))
        assert u.is_success()
    finally:
        env.close()
    env = make_libero_env("libero_goal", "turn_on_the_stove", render=False)
    u = env.unwrapped
    try:
        env.reset(options={"init_state": 0})
        assert u.goal_status() == {"(TurnOn flat_stove_1)": False}
        _set_joint(env, "flat_stove_1_knob", 0.8)
        assert u.is_success()
    finally:
        env.close()


def test_bowl_on_plate_and_bottle_on_rack():
    env = make_libero_env("libero_goal", "put_the_bowl_on_the_plate", render=False)
    u = env.unwrapped
    try:
        env.reset(options={"init_state": 3})
        plate = u.libero_query.pos("plate_1")
        _put(env, "akita_black_bowl_1", plate + np.array([0, 0, 0.03]))
        for _ in range(10):
            _, _, terminated, _, _ = env.step(np.zeros(7))
        assert terminated
    finally:
        env.close()
    env = make_libero_env("libero_goal", "put_the_wine_bottle_on_the_rack", render=False)
    u = env.unwrapped
    try:
        env.reset(options={"init_state": 3})
        rack = u.data.xpos[u.model.body("wine_rack_1_main").id]
        _put(env, "wine_bottle_1", rack + np.array([0, 0, 0.15]))
        for _ in range(15):
            _, _, terminated, _, _ = env.step(np.zeros(7))
        assert terminated
        _put(env, "wine_bottle_1", rack + np.array([0.2, 0, 0.15]))  # beside it
        for _ in range(15):
            _, _, terminated, _, _ = env.step(np.zeros(7))
        assert not terminated
    finally:
        env.close()


def test_libero_10_microwave_and_caddy():
    env = make_libero_env(
        "libero_10",
        "KITCHEN_SCENE6_put_the_yellow_and_white_mug_in_the_microwave_and_close_it",
        render=False,
    )
    u = env.unwrapped
    try:
        env.reset(options={"init_state": 0})
        # LIBERO's state starts with the door open (its -1.579 rad, ours +1.579)
        door = u.data.qpos[u.model.joint("microwave_1_door_hinge").qposadr[0]]
        assert door == pytest.approx(1.579, abs=0.01)
        status = u.goal_status()
        assert status == {
            "(In white_yellow_mug_1 microwave_1_heating_region)": False,
            "(Close microwave_1)": False,
        }
        _set_joint(env, "microwave_1_door_hinge", 0.0)
        assert u.goal_status()["(Close microwave_1)"]
    finally:
        env.close()


def test_spatial_drawer_task_starts_with_the_bowl_in_the_open_drawer():
    task = (
        "pick_up_the_black_bowl_in_the_top_drawer_of_the_wooden_cabinet_and_place_it_on_the_plate"
    )
    env = make_libero_env("libero_spatial", task, render=False)
    u = env.unwrapped
    try:
        env.reset(options={"init_state": 10})
        q = u.data.qpos[u.model.joint("wooden_cabinet_1_top_slide").qposadr[0]]
        assert q > 0.1  # LIBERO's state: top drawer out by ~15.6 cm
        status = init_status(u.libero_query)
        assert status["(In akita_black_bowl_1 wooden_cabinet_1_top_region)"]
        assert status["(Open wooden_cabinet_1_top_region)"]
    finally:
        env.close()


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match="image_size"):
        make_libero_env("libero_object", MILK, image_size=0)
    with pytest.raises(ValueError, match="suite"):
        make_libero_env("libero_nope", MILK)
    with pytest.raises(ValueError, match="task"):
        make_libero_env("libero_object", "nope")
    with pytest.raises(ValueError, match="keyword argument"):
        make_libero_env("libero_object", MILK, perturbation="standard")


def test_first_obs_reproducible_within_a_process():
    env = make_libero_env("libero_object", MILK, image_size=32)
    try:
        h = []
        for idx in (5, 2, 5):
            obs, _ = env.reset(options={"init_state": idx})
            h.append(
                hashlib.sha256(
                    obs["agentview_rgb"].tobytes() + obs["joint_acc"].tobytes()
                ).hexdigest()
            )
        assert h[0] == h[2] != h[1]
    finally:
        env.close()


def test_scripted_expert_solves_libero_object_milk():
    """envs.experts.ScriptedExpert on the rebuilt scene through envs.libero.expert."""
    from envs.experts.expert import ScriptedExpert
    from envs.libero.expert import expert_goal, scene_fn

    env = make_libero_env("libero_object", MILK, render=False)
    try:
        assert expert_goal(env) == (("In", "milk_1", "basket_1"),)
        for i in (0, 31):
            obs, _ = env.reset(options={"init_state": i})
            expert = ScriptedExpert(scene_fn=scene_fn)
            expert.reset(env, goal=expert_goal(env))
            terminated = truncated = False
            while not (terminated or truncated):
                obs, _, terminated, truncated, _ = env.step(expert.act(obs))
            assert terminated, (i, expert.phase)
    finally:
        env.close()


def test_expert_goal_refuses_goals_it_cannot_run():
    from envs.libero.expert import expert_goal

    env = make_libero_env("libero_goal", "turn_on_the_stove", render=False)
    try:
        with pytest.raises(ValueError, match="TurnOn"):
            expert_goal(env)
    finally:
        env.close()
