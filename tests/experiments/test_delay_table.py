"""Time-aware evaluation: the step budgets of a rollout and their summary (issue 21 item 1)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from ecc.errors import InvalidValueError
from ecc.executors import SyncExecutor
from ecc.runtime import ConstantLatency, SimulatedRuntime
from experiments.results import summarize
from experiments.rollout import StepBudget, budget_from_config, run_episode


class _Env:
    """Succeeds once ``need`` non-hold actions have been executed; 50 ms per control step."""

    action_space = SimpleNamespace(shape=(7,))
    language = "pick up the cube"

    def __init__(self, need: int) -> None:
        self.need = need

    def reset(self, seed=None, options=None):
        self.t = self.moved = 0
        return {}, {"sim_time": 0.0}

    def step(self, action):
        self.t += 1
        self.moved += bool(np.any(action[:-1] != 0))
        done = self.moved >= self.need
        return {}, 0.0, done, False, {"sim_time": 0.05 * self.t, "is_success": done}


class _Policy:
    def reset(self) -> None:
        pass

    def predict_action_chunk(self, obs):
        return np.full((8, 7), 0.1, np.float32), {}


def _episode(budget: StepBudget, latency_ms: float, need: int = 40):
    rt = SimulatedRuntime(_Policy(), ConstantLatency(latency_ms), mode="realtime",
                          executor=SyncExecutor())  # fmt: skip
    return run_episode(_Env(need), rt, suite="object", task="t", init_state=0, seed=0,
                       budget=budget)  # fmt: skip


def test_sync_at_800ms_fails_the_world_step_budget_but_not_the_executed_action_one() -> None:
    # d = 16 steps per 8-action chunk: 40 actions take 5 * (16 + 8) = 120 world steps
    world = _episode(StepBudget("world_steps", 60, 0.05), 800.0)
    executed = _episode(StepBudget("executed_actions", 60, 0.05, world_cap_steps=180), 800.0)
    assert not world.success
    assert world.steps == 60
    ta = executed.extra["time_aware"]
    assert executed.success
    assert ta["success_executed"]
    assert not ta["success_world_steps"]
    assert ta["executed_actions"] == 40
    assert ta["steps_to_success"] == 120
    assert ta["time_to_success_s"] == pytest.approx(6.0)
    assert ta["executor"] == "sync"
    assert ta["hold_fraction"] == pytest.approx(80 / 120)
    assert ta["inferences"] == 5
    s = summarize([world, executed])["time_aware"]
    assert s["budgets"]["executed_actions"] is None  # the world-step run cannot tell
    s = summarize([executed])["time_aware"]
    assert s["budgets"]["executed_actions"]["successes"] == 1
    assert s["budgets"]["world_steps"]["successes"] == 0


def test_the_world_time_cap_ends_an_executed_action_episode() -> None:
    rec = _episode(StepBudget("executed_actions", 60, 0.05, world_cap_steps=90), 800.0)
    assert not rec.success
    assert rec.steps == 90
    assert rec.extra["time_aware"]["world_cap_s"] == pytest.approx(4.5)


def test_budget_config_names_the_field() -> None:
    cfg = {"budget": "executed_actions", "max_world_s": None}
    assert budget_from_config(cfg, 280, 20.0).world_cap_steps == 840
    assert budget_from_config({"budget": "world_steps"}, 280, 20.0).world_cap_steps is None
    with pytest.raises(InvalidValueError, match=r"eval\.budget"):
        budget_from_config({"budget": "wall"}, 280, 20.0)
    with pytest.raises(InvalidValueError, match=r"eval\.max_world_s"):
        budget_from_config({"budget": "executed_actions", "max_world_s": 1.0}, 280, 20.0)


def test_mcnemar_exact_counts_only_the_discordant_pairs() -> None:
    from experiments.delay_table import mcnemar_exact

    assert mcnemar_exact([True] * 5 + [False], [False] * 6) == pytest.approx(2 / 32)
    assert mcnemar_exact([True, False], [False, True]) == 1.0
    same = [True, False, True]
    assert mcnemar_exact(same, same) == 1.0  # no discordant pair: no evidence
    a, b = [True] * 9 + [False] * 3, [False] * 9 + [True] * 3
    assert mcnemar_exact(a, b) == pytest.approx(mcnemar_exact(b, a))
    assert mcnemar_exact(a, b) == pytest.approx(2 * sum(math.comb(12, i) for i in range(4)) / 4096)


def test_a_cell_is_constant_latency_d_steps_in_realtime_and_the_reference_blocks() -> None:
    from experiments.delay_table import run_overrides

    a = SimpleNamespace(policy="pi0_tiny", env="object", init_states=5, max_tasks=None,
                        eval_budget="executed_actions", max_world_s=None, seed=0, logger="none",
                        step_ms=50.0, main_overrides=[])  # fmt: skip
    cell = run_overrides(a, "rtc", 16)
    assert "runtime.constant_ms=800.0" in cell
    assert "runtime.mode=realtime" in cell
    assert "executor=rtc" in cell
    assert "runtime.jitter=false" in cell
    ref = run_overrides(a, "sync", None)
    assert "runtime.mode=blocking" in ref
    assert "eval.budget=executed_actions" in ref


def test_the_table_refuses_an_unknown_executor_before_running(tmp_path) -> None:
    from experiments.apps import run_app
    from experiments.config_checks import ConfigError

    with pytest.raises(ConfigError, match=r"executors=\['nope'\].*allowed: .*rtc"):
        run_app("table", "delay", ["budget=quick", "executors=[nope]", f"out={tmp_path}"])
    assert not any(tmp_path.iterdir())  # nothing that reads as a result


@pytest.mark.slow
def test_a_tiny_table_runs_end_to_end_with_paired_cells(tmp_path) -> None:
    from experiments.apps import run_app

    rec = run_app("table", "delay", [
        "budget=quick", "executors=[sync,rtc]", "delays=[0,4]", "max_tasks=1",
        "main_overrides=[eval.max_episode_steps=12]", f"out={tmp_path}",
    ])  # fmt: skip
    rows = {(r["executor"], r["d"]): r for r in rec["rows"]}
    assert set(rows) == {("blocking", 0), ("sync", 0), ("sync", 4), ("rtc", 0), ("rtc", 4)}
    assert rows["rtc", 4]["p_vs_sync"] is not None
    assert rows["sync", 4]["hold_%"] > 0  # sync holds while the 200 ms inference runs
    for name in ("delay_table.md", "delay_table.csv", "delay_table.png", "delay_table.json"):
        assert (tmp_path / name).is_file()
