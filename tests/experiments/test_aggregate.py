"""The aggregation command recomputes its tables from run directories alone (fixtures written here)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from experiments.aggregate import AggregateError, aggregate, display_value, flatten
from experiments.apps import run_app

# Wilson 95% intervals, computed by hand (z = 1.95996):
# centre = (p + z^2/2n) / (1 + z^2/n), half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
WILSON_7_OF_10 = (0.3968, 0.8922)
WILSON_12_OF_15 = (0.5481, 0.9295)
WILSON_0_OF_5 = (0.0, 0.4345)


def _episode(i: int, success: bool, *, edge: tuple[float, int] = (10.0, 2), bits=None) -> dict:
    extra: dict = {
        "inferences": 3,
        "bytes_up": 100,
        "timeline": {
            "inference_step": [0, 8, 16],
            "cloud_ms": [0.0, 5.0, 7.0],  # two cloud calls
            "cut": ["edge_only", "llm.layer3", "llm.layer3"],
            "uplink_mbps": [50.0, 50.0, 50.0],
        },
    }
    if bits is not None:
        extra["timeline"]["act_bits"] = bits
        extra["precision_histogram"] = {
            str(b): bits.count(b) / len(bits) for b in sorted(set(bits))
        }
    return {
        "suite": "object",
        "task": "milk_in_basket",
        "init_state": i,
        "seed": i,
        "success": success,
        "steps": 20,
        "sim_time_s": 1.0,
        "wall_time_s": 1.0,
        "step_latency_ms": {
            "edge_ms": {"mean": edge[0], "p50": 0, "p95": 0, "max": 0, "n": edge[1]},
            "inference_ms": {"mean": 100.0, "p50": 0, "p95": 0, "max": 0, "n": 3},
        },
        "extra": extra,
    }


def _write_run(
    run_dir: Path, *, link: str, up_mbps: float, seed: int, episodes: list[dict], tasks=None
):
    run_dir.mkdir(parents=True)
    config = {
        "env": {"suite": "object", "tasks": tasks},
        "network": {"link": {"name": link, "up_mbps": up_mbps, "source": f"{link} spec"}},
        "scheduler": {"_target_": "ecc.schedulers.QueueThreshold"},
        "logger": {"name": f"run{seed}"},  # bookkeeping: never a swept field
        "seed": seed,
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    # Deliberately wrong success figures: the aggregate must not copy them.
    results = {
        "summary": {
            "success_rate": -1.0,
            "success_ci95": [-1.0, -1.0],
            "step_latency_ms": {"edge_ms": {"p95": 33.0}},
        },
        "provenance": {"git": {"commit": "abc123"}},
        "timing": {"wall_s": 12.5},
    }
    (run_dir / "results.json").write_text(json.dumps(results))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "sweep"
    wifi0 = [_episode(i, i < 7) for i in range(10)]  # 7 / 10
    wifi0[0] = _episode(0, True, edge=(40.0, 1))  # edge_ms pooled: (9 * 10*2 + 40*1) / 19
    _write_run(root / "0", link="wifi", up_mbps=100.0, seed=0, episodes=wifi0)
    _write_run(root / "1", link="wifi", up_mbps=100.0, seed=1,
               episodes=[_episode(i, True, bits=[16, 16, 8, 4]) for i in range(5)])  # fmt: skip
    _write_run(root / "2", link="lte", up_mbps=8.0, seed=0,
               episodes=[_episode(i, False) for i in range(5)])  # fmt: skip
    (root / "multirun.yaml").write_text("not a run dir\n")
    return root


def test_runs_table_recomputes_success_and_wilson_from_episodes(sweep: Path) -> None:
    result = aggregate(sweep, plots=False)
    rows = {r["run_dir"]: r for r in result["rows"]}
    assert set(rows) == {"0", "1", "2"}
    r0 = rows["0"]
    assert (r0["episodes"], r0["successes"]) == (10, 7)
    assert r0["success_rate"] == pytest.approx(0.7)
    assert (r0["success_ci95_lo"], r0["success_ci95_hi"]) == pytest.approx(WILSON_7_OF_10, abs=1e-4)
    assert (rows["2"]["success_ci95_lo"], rows["2"]["success_ci95_hi"]) == pytest.approx(
        WILSON_0_OF_5, abs=1e-4
    )
    assert r0["edge_ms_mean"] == pytest.approx((9 * 10.0 * 2 + 40.0) / 19)
    assert r0["edge_ms_p95"] == 33.0  # from results.json (raw per-step values live only there)
    assert r0["inference_ms_per_step"] == pytest.approx(100.0 * 3 / 20)
    assert r0["cloud_calls_per_ep"] == 2.0
    assert rows["1"]["precision_share_a16"] == pytest.approx(0.5)
    assert rows["1"]["precision_share_a4"] == pytest.approx(0.25)
    assert r0["git_commit"] == "abc123"
    assert r0["network.link.name"] == "wifi"
    assert r0["scheduler._target_"] == "QueueThreshold"
    # the preset name is swept; its other fields are implied by it (source), except the bandwidth
    assert result["swept"] == ["network.link.name", "network.link.up_mbps", "seed"]


def test_summary_pools_seeds_and_recomputes_the_interval(sweep: Path) -> None:
    result = aggregate(sweep, plots=False)
    groups = {g["network.link.name"]: g for g in result["summary"]}
    wifi = groups["wifi"]
    assert (wifi["runs"], wifi["episodes"], wifi["successes"]) == (2, 15, 12)
    assert (wifi["success_ci95_lo"], wifi["success_ci95_hi"]) == pytest.approx(
        WILSON_12_OF_15, abs=1e-4
    )
    md = (result["out"] / "summary.md").read_text()
    assert "80.0 [54.8, 93.0]" in md
    assert "0.0 [0.0, 43.4]" in md  # 43.448


def test_files_on_disk_match_and_plots_skip_what_is_absent(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "agg"
    run_app("tool", "aggregate", [f"root={sweep}", f"out={out}"])
    with (out / "runs.csv").open() as f:
        rows = {r["run_dir"]: r for r in csv.DictReader(f)}
    assert float(rows["0"]["success_ci95_hi"]) == pytest.approx(WILSON_7_OF_10[1], abs=1e-4)
    record = json.loads((out / "aggregate.json").read_text())
    assert record["provenance"]["versions"]["python"]
    assert len(record["runs"]) == 3
    for name in (
        "success_vs_bandwidth",
        "latency_breakdown",
        "precision_timeline",
        "cut_vs_bandwidth",
    ):
        assert (out / f"{name}.png").stat().st_size > 1000


def test_empty_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AggregateError, match="no run directories"):
        aggregate(tmp_path)


def test_flatten_keeps_lists_as_leaves() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": {}}) == {"a.b": 1, "a.c": [1, 2], "d": {}}


def test_only_target_fields_are_shortened() -> None:
    assert display_value("scheduler._target_", "ecc.schedulers.QueueThreshold") == "QueueThreshold"
    assert display_value("calibration.demos", "data/object_50.hdf5") == "data/object_50.hdf5"


def test_summary_pools_task_shards_of_one_evaluation(tmp_path: Path) -> None:
    root = tmp_path / "shards"
    for i, (tasks, wins) in enumerate(((["milk_in_basket"], 4), (["bread_in_basket"], 1))):
        eps = [_episode(k, k < wins) for k in range(5)]
        _write_run(root / str(i), link="wifi", up_mbps=100.0, seed=0, episodes=eps, tasks=tasks)
    result = aggregate(root, plots=False)
    assert len(result["rows"]) == 2
    (pooled,) = result["summary"]
    assert (pooled["runs"], pooled["episodes"], pooled["successes"]) == (2, 10, 5)
