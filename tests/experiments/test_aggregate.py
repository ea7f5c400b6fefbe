"""The aggregation command recomputes its tables from run directories alone (fixtures written here)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml

from experiments.aggregate import AggregateError, aggregate, display_value, flatten, swept_fields
from experiments.apps import run_app
from experiments.sweep_records import Run, cut_description, run_labels

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


# --- labels, failed runs and the report (issue 25 item 3) ---------------------------------------

SCHEDULERS = {
    "chunk_replay": {"_target_": "ecc.schedulers.QueueThreshold", "fraction": 0.0},
    "rapid": {"_target_": "ecc.schedulers.RapidTrigger", "window": 20, "high": 4.0, "cooldown": 5},
}
LINKS = {"wifi": 100.0, "lte": 1.0}


def _hydra_run(
    run_dir: Path,
    overrides: list[str],
    choices: dict[str, str],
    *,
    seed: int = 0,
    cuts: list[str] | None = None,
    results: dict | None = None,
) -> None:
    """A run directory as a Hydra multirun job leaves it: config, episodes, results, .hydra/."""
    scheduler, network = choices["scheduler"], choices["network"]
    eps = [_episode(i, i == 0, bits=[16, 8, 8, 4]) for i in range(2)]
    for e in eps:
        e["extra"]["timeline"]["cut"] = cuts or ["start", "start", "start"]
        e["extra"]["timeline"]["uplink_mbps"] = [LINKS[network]] * 3
    _write_run(run_dir, link=network, up_mbps=LINKS[network], seed=seed, episodes=eps)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["scheduler"] = SCHEDULERS[scheduler]  # 3-4 leaves that differ with the preset
    config["partition"] = {"direction": "edge_prefix"}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    if results is not None:
        (run_dir / "results.json").write_text(json.dumps(results))
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    hydra = {"hydra": {"runtime": {"choices": {**choices, "hydra/launcher": "basic"}}}}
    (run_dir / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))


@pytest.fixture
def sweep2x2(tmp_path: Path) -> Path:
    """scheduler=chunk_replay,rapid x network=wifi,lte, numbered as Hydra numbers the jobs."""
    root = tmp_path / "sweep2x2"
    for num, (scheduler, network) in enumerate(
        [(s, n) for s in ("chunk_replay", "rapid") for n in ("wifi", "lte")]
    ):
        cuts = ["start", "start", "start"] if network == "wifi" else ["after:llm.head"] * 3
        _hydra_run(
            root / str(num),
            [f"scheduler={scheduler}", f"network={network}", "eval.init_states=1", "logger=none"],
            {"scheduler": scheduler, "network": network, "policy": "pi0_tiny"},
            cuts=cuts,
        )
    return root


LABELS_2X2 = {
    "0": "scheduler=chunk_replay, network=wifi",
    "1": "scheduler=chunk_replay, network=lte",
    "2": "scheduler=rapid, network=wifi",
    "3": "scheduler=rapid, network=lte",
}


def test_runs_are_labelled_by_the_overrides_that_differ(sweep2x2: Path) -> None:
    result = aggregate(sweep2x2, plots=False)
    assert {r["run_dir"]: r["label"] for r in result["rows"]} == LABELS_2X2
    assert {g["label"] for g in result["summary"]} == set(LABELS_2X2.values())
    # the per-leaf columns stay in the CSVs for analysis
    with (result["out"] / "runs.csv").open() as f:
        header = next(csv.reader(f))
    assert header[:2] == ["run_dir", "label"]
    assert "scheduler.window" in header
    md = (result["out"] / "summary.md").read_text()
    assert "| scheduler=rapid, network=lte |" in md
    assert "scheduler.window" not in md  # the label names the preset, not its 4 leaves
    assert "None" not in md


def test_a_group_left_at_its_default_is_named_by_hydras_choice(tmp_path: Path) -> None:
    root = tmp_path / "partial"
    _hydra_run(root / "0", ["scheduler=rapid", "eval.init_states=1"],
               {"scheduler": "rapid", "network": "wifi"})  # fmt: skip
    # no scheduler override: the default (chunk_replay), which only hydra.yaml's choices record
    _hydra_run(root / "1", ["eval.init_states=1"], {"scheduler": "chunk_replay", "network": "wifi"})
    labels = {r["run_dir"]: r["label"] for r in aggregate(root, plots=False)["rows"]}
    assert labels == {"0": "scheduler=rapid", "1": "scheduler=chunk_replay"}


def test_seeds_pool_under_one_condition_label(tmp_path: Path) -> None:
    root = tmp_path / "seeds"
    for num, (scheduler, seed) in enumerate(
        [(s, k) for s in ("chunk_replay", "rapid") for k in (0, 1)]
    ):
        _hydra_run(root / str(num), [f"scheduler={scheduler}", f"seed={seed}"],
                   {"scheduler": scheduler, "network": "wifi"}, seed=seed)  # fmt: skip
    result = aggregate(root, plots=False)
    assert {r["run_dir"]: r["label"] for r in result["rows"]}["3"] == "scheduler=rapid, seed=1"
    groups = {g["label"]: g for g in result["summary"]}
    assert set(groups) == {"scheduler=chunk_replay", "scheduler=rapid"}
    assert (groups["scheduler=rapid"]["runs"], groups["scheduler=rapid"]["episodes"]) == (2, 4)


def test_runs_without_hydra_are_named_by_their_differing_leaves(sweep: Path) -> None:
    result = aggregate(sweep, plots=False)
    assert {r["run_dir"]: r["label"] for r in result["rows"]} == {
        "0": "network.link=wifi, seed=0",
        "1": "network.link=wifi, seed=1",
        "2": "network.link=lte, seed=0",
    }
    assert {g["label"] for g in result["summary"]} == {"network.link=wifi", "network.link=lte"}


def test_leaf_labels_name_a_group_by_its_target_and_show_no_missing_value() -> None:
    runs = [
        Run(Path("a"), {"scheduler._target_": "ecc.schedulers.RapidTrigger", "scheduler.window": 20}, [], {}),
        Run(Path("b"), {"scheduler._target_": "ecc.schedulers.QueueThreshold", "scheduler.fraction": 0.0}, [], {}),
    ]  # fmt: skip
    fields = swept_fields(runs)
    assert "scheduler.window" in fields  # a differing leaf, in runs.csv ...
    labels = run_labels(runs, fields)
    assert labels == ["scheduler=RapidTrigger", "scheduler=QueueThreshold"]  # ... not in the label


def test_failed_run_is_skipped_and_listed_in_the_report(sweep2x2: Path) -> None:
    failed = {"status": "failed", "error": "CheckpointError: model.safetensors truncated"}
    _hydra_run(sweep2x2 / "4", ["scheduler=rapid", "network=3g"],
               {"scheduler": "rapid", "network": "lte"}, results=failed)  # fmt: skip
    result = aggregate(sweep2x2, plots=False)
    assert {r["run_dir"] for r in result["rows"]} == set(LABELS_2X2)
    assert result["failed"] == [(sweep2x2 / "4").resolve()]
    # the failed run's override (network=3g) names nothing: labels are those of the 4 finished
    assert {r["label"] for r in result["rows"]} == set(LABELS_2X2.values())
    report = (result["out"] / "report.md").read_text()
    skipped = report.split("## Skipped runs", 1)[1]
    assert "- `4`: CheckpointError: model.safetensors truncated" in skipped


def test_report_embeds_every_plot_with_a_relative_link(sweep2x2: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "sweep2x2"
    result = aggregate(sweep2x2, out)
    report = out / "report.md"
    text = report.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert sorted(links) == pngs
    assert len(pngs) == 4  # success, latency, precision timeline, cut: all have data here
    for link in links:
        assert not Path(link).is_absolute()
        assert (report.parent / link).stat().st_size > 1000
    assert report in result["files"]
    summary = text.split("## Summary", 1)[1].split("## Runs", 1)[0]
    assert "| scheduler=chunk_replay, network=wifi | 1 | 2 | 1 | 50.0 [" in summary
    assert "- `start`: all on cloud (cut before vision)" in text
    assert "- `after:llm.head`: all on edge" in text
    assert "None: every run below the root finished." in text


@pytest.mark.parametrize(
    ("cut", "direction", "described"),
    [
        ("start", "edge_prefix", "all on cloud (cut before vision)"),
        ("after:llm.head", "edge_prefix", "all on edge"),
        ("after:head", "edge_prefix", "all on edge"),  # an action head's unit
        ("after:llm.layer3", "edge_prefix", "edge runs up to llm.layer3"),
        ("after:llm.layer3", "cloud_prefix", "cloud runs up to llm.layer3"),
        ("start", "cloud_prefix", "all on edge (cut before vision)"),
        ("edge_only", "edge_prefix", "all on edge"),
        ("cloud_only", "cloud_prefix", "all on cloud"),
        ("something_else", "edge_prefix", "something_else"),
    ],
)
def test_cut_names_are_explained(cut: str, direction: str, described: str) -> None:
    assert cut_description(cut, direction) == described
