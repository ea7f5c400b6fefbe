"""The scripted expert solves a few init states of one task per suite (the full table is
``python -m experiments.expert_table``, not a test)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import envs
from envs.experts import ExpertConfig, ScriptedExpert
from envs.experts.rollout import run_episode

torch.set_num_threads(1)

CASES = [
    ("object", "milk_in_basket", (0, 1)),
    ("spatial", "left_bowl_on_plate", (0,)),
    ("goal", "open_the_drawer", (0,)),
    ("goal", "push_the_plate_to_the_front", (0,)),
    ("long", "put_the_red_cube_in_the_drawer_and_close_it", (0,)),
]


@pytest.mark.parametrize(("suite", "task", "init_states"), CASES, ids=[c[1] for c in CASES])
def test_experts_solve_task(suite: str, task: str, init_states: tuple[int, ...]) -> None:
    env = envs.make_env(suite, task, render=False)
    try:
        for i in init_states:
            expert = ScriptedExpert(ExpertConfig())
            ep = run_episode(env, expert, seed=0, init_state=i, max_steps=envs.episode_limit(suite))
            assert ep.success, (
                f"{suite}/{task} init {i}: ended in phase {ep.final_phase} after {ep.steps} steps"
            )
            assert ep.steps < envs.episode_limit(suite)
    finally:
        env.close()


def test_experts_record_matches_steps() -> None:
    env = envs.make_env("object", "can_in_basket", render=False)
    try:
        expert = ScriptedExpert(ExpertConfig(noise_std=0.05, noise_seed=1))
        ep = run_episode(env, expert, seed=0, init_state=2, max_steps=280, record=True)
    finally:
        env.close()
    assert ep.success, ep.final_phase
    t = ep.steps
    assert ep.actions.shape == (t, 7)
    assert ep.executed.shape == (t, 7)
    assert ep.states.shape[0] == t
    assert ep.rewards.shape == (t,)
    assert ep.dones.shape == (t,)
    assert ep.dones[-1] == 1
    assert ep.dones[:-1].sum() == 0
    assert ep.rewards[-1] == 1.0
    # labels are clean, execution is noisy
    assert not np.allclose(ep.actions, ep.executed)
    assert np.all(np.abs(ep.actions) <= 1.0)
    assert len(ep.obs) == t
    assert "eef_pos" in ep.obs[0]


def test_experts_reads_task_goal_and_is_labelled_privileged() -> None:
    env = envs.make_env("goal", "put_the_bowl_on_the_plate", render=False)
    try:
        env.reset(seed=0, options={"init_state": 0})
        expert = ScriptedExpert()
        expert.reset(env)
    finally:
        env.close()
    assert ScriptedExpert.privileged is True
    assert "PRIVILEGED" in ScriptedExpert.__doc__
    assert expert.goal == (("On", "bowl", "plate"),)
