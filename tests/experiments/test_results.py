import json
import math

import pytest

from experiments.results import EpisodeRecord, RunWriter, latency_stats, summarize, wilson_interval


def _rec(
    task: str, success: bool, steps: int = 10, lat: list[float] | None = None
) -> EpisodeRecord:
    return EpisodeRecord(
        suite="object",
        task=task,
        init_state=0,
        seed=0,
        success=success,
        steps=steps,
        sim_time_s=steps * 0.05,
        wall_time_s=1.0,
        step_latency_ms={"policy_ms": lat or [1.0, 2.0, 3.0]},
    )


def test_wilson_interval_matches_reference_values():
    # Reference: Wilson score interval, z=1.96 (e.g. statsmodels proportion_confint method="wilson").
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4)
    assert hi == pytest.approx(0.9433, abs=1e-4)
    lo, hi = wilson_interval(50, 50)
    assert hi == 1.0
    assert lo == pytest.approx(0.9287, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("k", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_interval_rejects_impossible_counts(k, n):
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(k, n)


def test_summarize_per_task_and_pooled_latency():
    records = [
        _rec("a", True, lat=[1.0, 3.0]),
        _rec("a", False, lat=[5.0]),
        _rec("b", True, lat=[7.0]),
    ]
    s = summarize(records)
    assert s["episodes"] == 3
    assert s["successes"] == 2
    assert s["per_task"]["object/a"]["success_rate"] == 0.5
    assert s["per_task"]["object/b"]["successes"] == 1
    assert s["step_latency_ms"]["policy_ms"]["mean"] == pytest.approx(4.0)
    assert s["step_latency_ms"]["policy_ms"]["n"] == 4


def test_latency_stats_empty_is_nan():
    assert math.isnan(latency_stats([])["mean"])


def test_run_writer_appends_episodes_and_writes_results(tmp_path):
    w = RunWriter(tmp_path, {"seed": 3}, {"git": {"commit": "abc"}})
    w.add(_rec("a", True))
    # An interrupted run keeps what finished: the episode is on disk before finish().
    assert len((tmp_path / "episodes.jsonl").read_text().splitlines()) == 1
    w.add(_rec("a", False))
    summary = w.finish({"note": "x"})
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["summary"]["episodes"] == 2 == summary["episodes"]
    assert data["config"] == {"seed": 3}
    assert data["provenance"]["git"]["commit"] == "abc"
    assert data["note"] == "x"
    rows = [json.loads(x) for x in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert rows[1]["success"] is False
    assert rows[0]["step_latency_ms"]["policy_ms"]["p50"] == pytest.approx(2.0)
