"""Kinematic streams (experiments.rapid.kinematics), the task category and the trigger replay (ecc)."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from ecc.errors import InvalidValueError
from ecc.schedulers import EveryStep, RapidTrigger, replay_trigger
from envs.errors import TaskSpecError
from experiments.rapid.errors import RapidExperimentError
from experiments.rapid.kinematics import collect_expert_episodes


def synthetic_stream(steps: int = 80, spike_at: int | None = 40, seed: int = 0) -> list[dict]:
    """Smooth joint motion (small noise) with one abrupt velocity jump at ``spike_at``."""
    rng = np.random.default_rng(seed)
    infos = []
    for k in range(steps):
        vel = 0.5 + 0.001 * rng.standard_normal((25, 7))
        tau = 1.0 + 0.001 * rng.standard_normal((25, 7))
        if k == spike_at:
            vel[12:] += 2.0  # a sudden stop/turn: large acceleration inside the step
            tau[12:] += 5.0
        infos.append(
            {
                "joint_vel_history": vel.astype(np.float32),
                "joint_torque_history": tau.astype(np.float32),
            }
        )
    return infos


@pytest.mark.parametrize(
    ("suite", "task", "kind"),
    [
        ("object", "milk_in_basket", "pick_place"),
        ("goal", "open_the_drawer", "drawer"),
        ("goal", "close_the_drawer", "drawer"),
        ("goal", "put_the_red_cube_in_the_drawer", "pick_place"),
        ("goal", "turn_on_the_stove", "button"),
        ("goal", "push_the_plate_to_the_front", "push"),
        ("long", "close_the_drawer_and_turn_on_the_stove", "long"),
    ],
)
def test_task_category_is_set_by_the_suite(suite: str, task: str, kind: str) -> None:
    assert envs.get_task(suite, task).category == kind


def test_task_category_is_validated() -> None:
    import dataclasses

    spec = dataclasses.replace(envs.get_task("goal", "open_the_drawer"), category="juggling")
    with pytest.raises(TaskSpecError, match=r"category='juggling'.*pick_place"):
        spec.validate()


def test_replay_chunk_replay_only_when_smooth() -> None:
    infos = synthetic_stream(80, spike_at=None)
    r = replay_trigger(RapidTrigger(high=4.0, low=2.0), infos, chunk_len=8)
    assert r.inferences == 10
    assert r.preemptions == 0
    assert r.redundant_fraction == pytest.approx(70 / 80)


def test_replay_spike_preempts_at_the_spike() -> None:
    infos = synthetic_stream(80, spike_at=43)
    r = replay_trigger(RapidTrigger(high=4.0, low=2.0, cooldown=5), infos, chunk_len=8)
    critical = [t["step"] for t in r.trace if t["reason"] == "critical"]
    assert critical == [43]
    assert r.preemptions == 1
    assert r.inferences == 11  # 0, 8, ..., 40, the critical replan at 43, then 51 ... 75
    assert r.redundant_fraction == pytest.approx(69 / 80)


def test_replay_every_step_has_no_redundancy() -> None:
    r = replay_trigger(EveryStep(), synthetic_stream(20, None), chunk_len=8)
    assert r.redundant_fraction == 0.0
    assert r.inferences == 20


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_replay_rejects_bad_chunk_len(bad: object) -> None:
    with pytest.raises(InvalidValueError, match="chunk_len"):
        replay_trigger(EveryStep(), synthetic_stream(5, None), chunk_len=bad)  # type: ignore[arg-type]


def test_collect_expert_episode_real_env() -> None:
    eps = collect_expert_episodes(
        "goal", ["turn_on_the_stove"], 1, max_episode_steps=80, progress=False
    )
    assert len(eps) == 1
    ep = eps[0]
    assert ep.category == "button"
    assert ep.steps > 10
    assert ep.infos[-1]["joint_vel_history"].shape == (25, 7)
    assert ep.infos[-1]["joint_torque_history"].shape == (25, 7)
    speeds = [np.abs(i["joint_vel_history"]).max() for i in ep.infos[1:]]
    assert max(speeds) > 0.01  # the robot moved


def test_collect_rejects_bad_names() -> None:
    with pytest.raises(RapidExperimentError, match="task"):
        collect_expert_episodes("goal", ["no_such_task"], 1, progress=False)
    with pytest.raises(RapidExperimentError, match="suite"):
        collect_expert_episodes("nope", None, 1, progress=False)
    with pytest.raises(RapidExperimentError, match="episodes"):
        collect_expert_episodes("goal", None, 0, progress=False)
