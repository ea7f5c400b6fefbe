"""experiments.expert_table: aggregation, files written and the pass/fail rule (no simulator)."""

from __future__ import annotations

import csv

import pytest

from experiments import expert_table
from experiments.apps import run_app
from experiments.expert_table import EpisodeRow, summarize


def _rows() -> list[EpisodeRow]:
    rows = [EpisodeRow("object", "milk_in_basket", i, True, 100 + i, "done", 1.0) for i in range(4)]
    rows.append(EpisodeRow("object", "milk_in_basket", 4, False, 280, "carry:milk", 2.0))
    rows += [EpisodeRow("goal", "open_the_drawer", i, True, 80, "done", 1.0) for i in range(5)]
    return rows


def test_experts_table_summarize() -> None:
    milk, drawer = summarize(_rows())
    assert (milk.suite, milk.task, milk.successes, milk.episodes) == (
        "object",
        "milk_in_basket",
        4,
        5,
    )
    assert milk.rate == pytest.approx(0.8)
    assert milk.mean_steps == pytest.approx((100 + 101 + 102 + 103 + 280) / 5)
    assert milk.mean_steps_success == pytest.approx(101.5)
    assert milk.failed_init_states == (4,)
    assert milk.failed_phases == ("carry:milk",)
    assert drawer.rate == 1.0


def test_experts_table_writes_files(tmp_path) -> None:
    summaries = summarize(_rows())
    header = {
        "generated_utc": "2026-01-01 00:00:00",
        "command": "python -m experiments.expert_table",
        "git": {"commit": "abc123", "dirty": False},
        "versions": {"mujoco": "3.9.0", "robosuite": "1.5.2"},
        "seed": 7,
        "noise_std": 0.0,
        "init_states": 5,
        "threshold": 0.95,
        "elapsed_s": 1.0,
        "workers": 1,
        "expert_config": {"pos_gain": 12.0},
    }
    md, csv_path = tmp_path / "t.md", tmp_path / "t.csv"
    expert_table.write_markdown(md, summaries, header)
    expert_table.write_csv(csv_path, summaries, header)
    text = md.read_text()
    assert "`abc123`" in text
    assert "seed: 7" in text
    assert "| object | milk_in_basket | 4/5 | 80% |" in text
    assert "4 (carry:milk)" in text
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("# git_commit=abc123 seed=7")
    table = list(csv.DictReader(lines[1:]))
    assert table[0]["successes"] == "4"
    assert table[1]["rate"] == "1.0000"


def test_experts_table_cli_validation() -> None:
    with pytest.raises(ValueError, match=r"n_init=51 is not allowed; allowed: 1\.\.50"):
        run_app("study", "expert_table", ["n_init=51", "out=x"])
    with pytest.raises(ValueError, match="no_such_suite"):
        expert_table.select_tasks("no_such_suite", "all")
    pairs = expert_table.select_tasks("goal", "open_the_drawer")
    assert pairs == [("goal", "open_the_drawer")]


def test_experts_table_main_end_to_end(tmp_path) -> None:
    md, csv_path = tmp_path / "t.md", tmp_path / "t.csv"
    rc = run_app("study", "expert_table", [
        "suites=[goal]", "tasks=[turn_on_the_stove]", "n_init=1", "workers=1", f"out_md={md}",
        f"out_csv={csv_path}", "out=x",
    ])  # fmt: skip
    assert rc == 0
    assert "| goal | turn_on_the_stove | 1/1 | 100% |" in md.read_text()
    assert "turn_on_the_stove" in csv_path.read_text()
