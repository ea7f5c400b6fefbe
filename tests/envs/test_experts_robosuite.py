"""The expert's primitives on stock robosuite Lift (independent of this project's suites)."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import dataclasses

import numpy as np
import pytest
import torch

from envs.experts import ExpertConfig, ScriptedExpert
from envs.experts.robosuite_scene import scene_from_robosuite

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def lift_env():
    suite = pytest.importorskip("robosuite")
    from robosuite.controllers import load_composite_controller_config

    env = suite.make(
        "Lift",
        robots="Panda",
        controller_configs=load_composite_controller_config(controller="BASIC", robot="Panda"),
        has_renderer=False,
        has_offscreen_renderer=False,
        use_camera_obs=False,
        control_freq=20,
        hard_reset=False,
        horizon=400,
    )
    yield env
    env.close()


class _GoalRegionScene:
    """robosuite Lift scene plus a 'region:goal' site the test moves per episode."""

    def __init__(self) -> None:
        self.goal_xy = np.zeros(2)

    def __call__(self, env):
        s = scene_from_robosuite(env)
        sites = dict(s.sites)
        sites["region:goal"] = np.array([self.goal_xy[0], self.goal_xy[1], s.table_z])
        return dataclasses.replace(s, sites=sites)


def _run(env, config: ExpertConfig, goal_offset: np.ndarray, seed: int, max_steps: int = 300):
    np.random.seed(seed)
    # robosuite 1.5 places objects with env.rng (seeded once, at construction), not np.random;
    # reseeded in place because the placement sampler holds that same Generator.
    env.rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
    obs = env.reset()
    start = scene_from_robosuite(env).body("cube").pos.copy()
    scene_fn = _GoalRegionScene()
    scene_fn.goal_xy = goal_xy = start[:2] + goal_offset
    expert = ScriptedExpert(config, scene_fn=scene_fn)
    expert.reset(env, goal=[("InRegion", "cube", "goal")])
    labels = []
    for _ in range(max_steps):
        a = expert.act(obs)
        labels.append(a)
        obs, *_ = env.step(expert.perturb(a))
        if expert.finished:
            break
    final = scene_from_robosuite(env).body("cube")
    return expert, final, goal_xy, np.array(labels), start


@pytest.mark.parametrize("seed", [0, 1])
def test_experts_lift_pick_and_place(lift_env, seed: int) -> None:
    expert, final, goal_xy, labels, start = _run(
        lift_env, ExpertConfig(), np.array([0.0, 0.15]), seed
    )
    assert expert.plan_succeeded, expert.phase
    assert np.linalg.norm(final.pos[:2] - goal_xy) < 0.02
    assert final.bottom_z == pytest.approx(lift_env.model.mujoco_arena.table_offset[2], abs=0.01)
    assert np.all(np.abs(labels) <= 1.0)
    # It really grasped: the gripper closed at some point and the cube moved 15 cm.
    assert (labels[:, 6] > 0).any()
    assert np.linalg.norm(final.pos[:2] - start[:2]) > 0.1


def test_experts_noise_changes_execution_not_labels(lift_env) -> None:
    config = ExpertConfig(noise_std=0.2, noise_seed=3)
    expert, final, goal_xy, _labels, _ = _run(lift_env, config, np.array([0.1, 0.0]), seed=5)
    assert expert.plan_succeeded, expert.phase
    assert np.linalg.norm(final.pos[:2] - goal_xy) < 0.03
    a = np.array([0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    noisy = expert.perturb(a)
    assert not np.allclose(noisy[:6], a[:6])
    assert noisy[6] == a[6]
    assert np.all(np.abs(noisy) <= 1.0)
