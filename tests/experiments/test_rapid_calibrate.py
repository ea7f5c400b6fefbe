"""RAPID threshold calibration (ecc.schedulers.rapid_calibration; the experiments.rapid tool)."""

from __future__ import annotations

import json

import pytest
from test_rapid_kinematics import synthetic_stream

from ecc.errors import InvalidValueError
from ecc.schedulers import RapidTrigger, TriggerParams, pooled_redundancy
from ecc.schedulers import calibrate_thresholds as calibrate
from experiments.apps import run_app
from experiments.rapid.scheduler_conf import scheduler_from_yaml


def _episodes() -> list[list[dict]]:
    eps = []
    for k in range(4):
        infos = synthetic_stream(120, spike_at=None, seed=k)
        for s in (30 + k, 70 + 2 * k, 100):  # three abrupt events of different size
            infos[s]["joint_vel_history"][12:] += 0.5 + 0.5 * (s % 3)
        eps.append(infos)
    return eps


@pytest.mark.parametrize("target", [0.80, 0.84])
def test_calibrate_hits_target(target: float) -> None:
    params = TriggerParams(target="default")
    calib, history = calibrate(_episodes(), params, target_redundancy=target, chunk_len=8)
    assert calib.achieved_redundancy >= target
    assert calib.achieved_redundancy < calib.max_redundancy
    assert calib.low == pytest.approx(0.5 * calib.high)
    assert 0.0 < calib.critical_step_share < 0.2
    # independent re-check with a fresh trigger
    again = pooled_redundancy(_episodes(), RapidTrigger(high=calib.high, low=calib.low), 8)
    assert again == pytest.approx(calib.achieved_redundancy)
    assert len(history) > 3


def test_calibrate_infeasible_target_is_clear() -> None:
    with pytest.raises(InvalidValueError, match="target_redundancy"):
        calibrate(_episodes(), TriggerParams(), target_redundancy=0.9, chunk_len=8)  # cap 87.5%
    with pytest.raises(InvalidValueError, match="low_ratio"):
        calibrate(_episodes(), TriggerParams(), low_ratio=1.5)
    with pytest.raises(InvalidValueError, match="episodes"):
        calibrate([], TriggerParams())


def test_calibrate_cli_writes_loadable_yaml(tmp_path) -> None:
    high = run_app(
        "tool", "rapid_calibrate",
        ["suite=goal", "tasks=[turn_on_the_stove]", "episodes=1", "max_episode_steps=80",
         "target_redundancy=0.8", f"out={tmp_path}", "progress=false"],
    )  # fmt: skip
    trig = scheduler_from_yaml(tmp_path / "rapid_calibrated.yaml")
    assert isinstance(trig, RapidTrigger)
    assert trig.high == pytest.approx(high, abs=1e-4)
    assert trig.target == "cloud"
    rec = json.loads((tmp_path / "calibration.json").read_text())
    assert rec["provenance"]["versions"]["mujoco"]
    assert rec["results"]["importance"]["p50"] <= rec["results"]["importance"]["p99"]
    assert rec["results"]["by_task_category"]["button"]["episodes"] == 1
    assert rec["config"]["seed"] == 0
