"""Redundancy table, timeline and trigger overhead (experiments.rapid.redundancy)."""

from __future__ import annotations

import csv

import pytest
from test_rapid_kinematics import synthetic_stream

from ecc.schedulers import RapidTrigger
from experiments.apps import run_app
from experiments.rapid.kinematics import KinematicEpisode
from experiments.rapid.redundancy import redundancy_rows
from experiments.rapid.trigger_overhead import measure_decide_overhead


def test_rows_weight_by_steps_and_carry_the_paper() -> None:
    eps = [
        KinematicEpisode("object", "milk_in_basket", 0, 0, True, synthetic_stream(80, None)),
        KinematicEpisode("goal", "open_the_drawer", 0, 0, False, synthetic_stream(16, None)),
    ]
    rows, per_ep = redundancy_rows(eps, RapidTrigger(), chunk_len=8)
    by = {r["task_type"]: r for r in rows}
    assert by["pick_place"]["redundant_pct"] == pytest.approx(100 * 70 / 80)
    assert by["drawer"]["redundant_pct"] == pytest.approx(100 * 14 / 16)
    assert by["all"]["redundant_pct"] == pytest.approx(100 * 84 / 96)
    assert by["all"]["expert_success_pct"] == pytest.approx(50.0)
    assert by["all"]["triggered_pct"] == 0.0  # smooth streams: chunk refills only
    assert by["pick_place"]["paper_redundant_pct"] == 82.5
    assert by["drawer"]["paper_redundant_pct"] == 86.4
    assert by["peg_insertion"]["paper_redundant_pct"] == 81.2
    assert len(per_ep) == 2


def test_decide_overhead_is_timed() -> None:
    eps = [KinematicEpisode("goal", "open_the_drawer", 0, 0, True, synthetic_stream(40, 20))]
    stats = measure_decide_overhead(RapidTrigger(), eps, repeats=2)
    assert stats["calls"] == 80
    assert 0 < stats["p50_us"] <= stats["p99_us"] <= stats["max_us"]
    assert stats["mean_us"] < 50_000  # far below a 50 ms control step


def test_redundancy_cli_smoke(tmp_path) -> None:
    rows = run_app(
        "study", "rapid_redundancy",
        ["suites=[goal]", "tasks=[turn_on_the_stove]", "episodes=1", "max_episode_steps=80",
         "timeline=goal:turn_on_the_stove", "overhead_repeats=1", f"out={tmp_path}",
         "progress=false"],
    )  # fmt: skip
    button = next(r for r in rows if r["task_type"] == "button")
    assert 0.0 < button["redundant_pct"] <= 87.5
    for name in ("redundancy.md", "redundancy.csv", "redundancy.json", "timeline.png"):
        assert (tmp_path / name).stat().st_size > 100
    with (tmp_path / "redundancy.csv").open() as f:
        table = list(csv.DictReader(f))
    assert {r["task_type"] for r in table} >= {"button", "all", "peg_insertion"}
    assert "scripted expert" in (tmp_path / "redundancy.md").read_text()


def test_redundancy_cli_rejects_unknown_tasks(tmp_path) -> None:
    from experiments.rapid.errors import RapidExperimentError

    with pytest.raises(RapidExperimentError, match="tasks"):
        run_app(
            "study", "rapid_redundancy",
            ["suites=[goal]", "tasks=[no_such_task]", f"out={tmp_path}", "progress=false"],
        )  # fmt: skip


def test_triggered_share_counts_critical_steps() -> None:
    eps = [KinematicEpisode("goal", "open_the_drawer", 0, 0, True, synthetic_stream(80, 43))]
    rows, _ = redundancy_rows(eps, RapidTrigger(high=4.0, low=2.0), chunk_len=8)
    drawer = next(r for r in rows if r["task_type"] == "drawer")
    assert drawer["triggered_pct"] == pytest.approx(100 / 80)
    assert drawer["redundant_pct"] == pytest.approx(100 * 69 / 80)
