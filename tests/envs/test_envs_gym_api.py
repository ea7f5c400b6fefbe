"""gymnasium contract: env checker per suite, AsyncVectorEnv, observation layout."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs

ONE_PER_SUITE = [
    ("spatial", "left_bowl_on_plate"),
    ("object", "milk_in_basket"),
    ("goal", "open_the_drawer"),
    ("long", "close_the_drawer_and_turn_on_the_stove"),
]


@pytest.mark.parametrize(("suite", "task"), ONE_PER_SUITE)
def test_env_checker_passes(suite, task):
    env = envs.make_env(suite, task, image_size=32)
    try:
        check_env(env, skip_render_check=False)
    finally:
        env.close()


def test_observation_layout():
    env = envs.make_env("object", "milk_in_basket", image_size=48)
    try:
        obs, info = env.reset(seed=1)
        assert obs["agentview_rgb"].shape == (48, 48, 3)
        assert obs["agentview_rgb"].dtype == np.uint8
        assert obs["wrist_rgb"].shape == (48, 48, 3)
        sizes = {"eef_pos": 3, "eef_quat": 4, "gripper_qpos": 2, "gripper_qvel": 2}
        sizes |= {k: 7 for k in ("joint_pos", "joint_vel", "joint_acc", "joint_torque")}
        for k, n in sizes.items():
            assert obs[k].shape == (n,)
            assert obs[k].dtype == np.float32
        assert abs(np.linalg.norm(obs["eef_quat"]) - 1) < 1e-5
        assert env.observation_space.contains(obs)
        for k in (
            "is_success",
            "joint_vel_history",
            "joint_torque_history",
            "sim_time",
            "language",
            "task_id",
        ):
            assert k in info
        assert env.unwrapped.language == "pick up the milk and place it in the basket"
        assert env.render().shape == (48, 48, 3)
        obs, *_, info = env.step(np.zeros(7))
        assert info["sim_time"] == pytest.approx(0.05)
    finally:
        env.close()


def test_render_false_drops_image_keys():
    env = envs.make_env("goal", "open_the_drawer", render=False)
    try:
        obs, _ = env.reset()
        assert "agentview_rgb" not in obs
        assert "agentview_rgb" not in env.observation_space.spaces
    finally:
        env.close()


def test_truncated_at_limit():
    env = envs.make_env("goal", "turn_on_the_stove", render=False, max_episode_steps=3)
    try:
        env.reset()
        flags = [env.step(np.zeros(7))[2:4] for _ in range(3)]
        assert flags == [(False, False), (False, False), (False, True)]
    finally:
        env.close()


def test_async_vector_env_two_workers():
    # "module:id" makes each worker import envs (which registers the ids) itself. Workers are
    # spawned, not forked: a fork after this process has an EGL context deadlocks in the child.
    ids = ["envs:LiberoLike/object-milk_in_basket-v0", "envs:LiberoLike/goal-open_the_drawer-v0"]
    vec = gym.vector.AsyncVectorEnv(
        [lambda i=i: gym.make(i, image_size=32) for i in ids], context="spawn"
    )
    try:
        obs, info = vec.reset(seed=[0, 1], options={"init_state": 2})
        assert obs["agentview_rgb"].shape == (2, 32, 32, 3)
        for _ in range(3):
            obs, _r, _term, _trunc, info = vec.step(np.zeros((2, 7), dtype=np.float32))
        assert obs["joint_pos"].shape == (2, 7)
        assert info["joint_vel_history"].shape == (2, 25, 7)
    finally:
        vec.close()


def test_500hz_history_matches_substeps():
    env = envs.make_env("object", "lemon_in_basket", render=False)
    try:
        env.reset()
        obs, *_, info = env.step(np.array([1.0, 0, 0, 0, 0, 0, -1]))
        vel, tau = info["joint_vel_history"], info["joint_torque_history"]
        # the last substep is the observed state; the robot accelerates over the 25 substeps
        np.testing.assert_array_equal(vel[-1], obs["joint_vel"])
        np.testing.assert_array_equal(tau[-1], obs["joint_torque"])
        assert np.abs(vel[-1]).sum() > np.abs(vel[0]).sum()
        assert len({tuple(r) for r in vel}) == 25
    finally:
        env.close()
