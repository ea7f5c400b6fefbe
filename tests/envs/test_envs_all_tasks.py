"""Acceptance 1: every task id makes, resets to each of its 50 init states and steps."""

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs.init_states import N_INIT_STATES

ALL = [(s, t) for s in envs.list_suites() for t in envs.list_tasks(s)]


@pytest.mark.parametrize(("suite", "task"), ALL, ids=[f"{s}-{t}" for s, t in ALL])
def test_task_makes_resets_all_init_states_and_steps(suite, task):
    env = gym.make(f"LiberoLike/{suite}-{task}-v0", render=False)
    try:
        base = env.unwrapped
        assert base.num_init_states == N_INIT_STATES
        first_pos = {}
        for i in range(N_INIT_STATES):
            obs, info = env.reset(options={"init_state": i})
            assert not info["is_success"], f"init state {i} already satisfies the goal"
            assert obs["joint_pos"].dtype == np.float32
            ps = base.privileged_state()
            for _name, o in ps["objects"].items():
                # resting on something, inside the table bounds
                assert o["bottom_z"] > 0.79
                assert abs(o["pos"][0]) < 0.4
                assert abs(o["pos"][1]) < 0.5
            first_pos[i] = ps["objects"][base.task.objects[0].name]["pos"]
        # init states really differ
        assert len({tuple(np.round(p, 4)) for p in first_pos.values()}) > N_INIT_STATES // 2
        env.reset(options={"init_state": 0})
        for _ in range(3):
            obs, _r, _term, _trunc, info = env.step(env.action_space.sample())
        assert info["joint_vel_history"].shape == (25, 7)
        assert info["joint_torque_history"].dtype == np.float32
        assert info["task_id"] == f"LiberoLike/{suite}-{task}-v0"
        assert np.abs(info["joint_vel_history"]).sum() > 0
    finally:
        env.close()
