"""Suites, task ids, gym registration and start-up validation."""

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs.errors import EnvConfigError
from envs.spec import PREDICATE_ARITY


def test_suite_sizes_and_limits():
    assert envs.list_suites() == ["spatial", "object", "goal", "long"]
    minimum = {"spatial": 10, "object": 10, "goal": 8, "long": 6}
    for suite, n in minimum.items():
        assert len(envs.list_tasks(suite)) >= n
    assert {s: envs.episode_limit(s) for s in envs.list_suites()} == {
        "spatial": 220,
        "object": 280,
        "goal": 300,
        "long": 520,
    }


def test_every_task_is_registered_and_declared_as_data():
    for suite in envs.list_suites():
        for task in envs.list_tasks(suite):
            spec = envs.get_task(suite, task)
            assert spec.gym_id == f"LiberoLike/{suite}-{task}-v0"
            assert spec.gym_id in gym.registry
            assert spec.language
            assert spec.goal
            for pred in spec.goal:
                assert len(pred) - 1 == PREDICATE_ARITY[pred[0]]


def test_long_tasks_chain_two_goals_and_object_tasks_target_basket():
    for task in envs.list_tasks("long"):
        assert len(envs.get_task("long", task).goal) >= 2
    targets = {envs.get_task("object", t).goal[0][1] for t in envs.list_tasks("object")}
    assert len(targets) == len(envs.list_tasks("object"))
    assert all(envs.get_task("object", t).goal[0][0] == "In" for t in envs.list_tasks("object"))


@pytest.mark.parametrize(
    ("kwargs", "field", "allowed"),
    [
        ({"suite": "nope", "task": "milk_in_basket"}, "suite", "'spatial'"),
        ({"suite": "object", "task": "nope"}, "task", "'milk_in_basket'"),
        (
            {"suite": "object", "task": "milk_in_basket", "perturbation": "heavy"},
            "perturbation",
            "'visual_noise'",
        ),
        (
            {"suite": "object", "task": "milk_in_basket", "image_size": 0},
            "image_size",
            "positive integer",
        ),
        (
            {"suite": "object", "task": "milk_in_basket", "image_size": -5},
            "image_size",
            "positive integer",
        ),
        (
            {"suite": "object", "task": "milk_in_basket", "max_episode_steps": 0},
            "max_episode_steps",
            "positive",
        ),
        (
            {"suite": "object", "task": "milk_in_basket", "robot_visuals": "fancy"},
            "robot_visuals",
            "'mesh'",
        ),
        (
            {"suite": "object", "task": "milk_in_basket", "colour": 1},
            "keyword argument",
            "robot_visuals",
        ),
    ],
)
def test_bad_config_fails_at_start_with_allowed_values(kwargs, field, allowed):
    with pytest.raises(EnvConfigError) as e:
        envs.make_env(**kwargs)
    msg = str(e.value)
    assert field in msg
    assert allowed in msg
    assert isinstance(e.value, ValueError)


def test_bad_init_state_and_action_raise():
    env = envs.make_env("object", "milk_in_basket", render=False)
    try:
        with pytest.raises(EnvConfigError, match=r"0\.\.49"):
            env.reset(options={"init_state": 50})
        with pytest.raises(EnvConfigError, match="init_state"):
            env.reset(options={"init_state": -1})
        with pytest.raises(EnvConfigError, match="allowed"):
            env.reset(options={"init_sate": 1})
        env.reset()
        with pytest.raises(EnvConfigError, match="action"):
            env.step(np.zeros(6))
    finally:
        env.close()


def test_make_env_seed_is_used_by_first_reset():
    a = envs.make_env(
        "goal", "open_the_drawer", image_size=32, perturbation="visual_noise", seed=11
    )
    b = envs.make_env("goal", "open_the_drawer", image_size=32, perturbation="visual_noise")
    try:
        oa, _ = a.reset()
        ob, _ = b.reset(seed=11)
        np.testing.assert_array_equal(oa["agentview_rgb"], ob["agentview_rgb"])
    finally:
        a.close()
        b.close()


def test_render_options_are_validated():
    with pytest.raises(EnvConfigError, match="slices"):
        envs.make_env("object", "milk_in_basket", render_options={"slices": 2})
    with pytest.raises(EnvConfigError, match="skybox"):
        envs.make_env("object", "milk_in_basket", render_options={"fog": True})
