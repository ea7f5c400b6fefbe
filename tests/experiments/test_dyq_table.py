"""DyQ-VLA table command: closed loop through the main job's evaluate, tables read from run dirs."""

from __future__ import annotations

import csv
import json
import math

import pytest

from experiments.apps import run_app
from experiments.dyq_table import run_overrides


def test_smoke_writes_markdown_csv_png_json_from_run_dirs(random_checkpoint, tmp_path) -> None:
    record = run_app("table", "dyq", [
        f"checkpoint={random_checkpoint}", "suites=[object]", "max_tasks=1", "init_states=2",
        "methods=[dyq]", "no_ablation=true", f"out={tmp_path}",
        "main_overrides=['eval.max_episode_steps=16','eval.num_wait_steps=0','env.image_size=64']",
    ])  # fmt: skip
    rows = {r["key"]: r for r in record["rows"]}
    assert set(rows) == {"bf16", "dyq"}  # bf16 always runs: it is the speedup's reference
    assert rows["bf16"]["modeled_speedup"] == pytest.approx(1.0)
    assert rows["dyq"]["modeled_speedup"] >= 1.0  # INT4 weights: never slower than BF16
    assert rows["dyq"]["openvla7b_memory_gb"] < 0.35 * rows["bf16"]["openvla7b_memory_gb"]
    assert rows["bf16"]["paper_success_pct"] == 88.4
    for r in rows.values():
        assert r["episodes"] == 2
        assert r["ci95_lo_pct"] <= r["success_pct"] <= r["ci95_hi_pct"]
    # each row is one main-job run directory, written by experiments.run.evaluate
    for key in ("bf16", "dyq"):
        run = tmp_path / "runs" / "object" / key
        assert (run / "results.json").is_file()
        assert len((run / "episodes.jsonl").read_text().splitlines()) == 2
    md = (tmp_path / "dyq_table.md").read_text()
    assert str(random_checkpoint) in md  # which checkpoint acted
    assert "MODELED" in md
    with (tmp_path / "dyq_table.csv").open() as f:
        assert {r["key"] for r in csv.DictReader(f)} == {"bf16", "dyq"}
    assert (tmp_path / "dyq_table.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "dyq_table.json").read_text())
    assert saved["provenance"]["git"]["commit"]
    assert saved["config"]["checkpoint"] == str(random_checkpoint)
    assert not math.isnan(saved["rows"][0]["modeled_ms"])


def test_calibrated_methods_get_their_demos_override() -> None:
    from types import SimpleNamespace

    from experiments.dyq_table import TABLE_METHODS

    a = SimpleNamespace(policy="oft_tiny", checkpoint="ck", init_states=5, max_tasks=2, seed=0,
                        logger="none", demos="d.hdf5", main_overrides=[])  # fmt: skip
    by_key = {m.key: run_overrides(a, "object", m) for m in TABLE_METHODS}
    assert "+calibration.demos=d.hdf5" in by_key["smoothquant_w4a4"]
    assert "+calibration.demos=d.hdf5" in by_key["qvla"]
    assert not any(o.startswith("+calibration") for o in by_key["dyq"])
    assert "quantization=dyq" in by_key["dyq"]


def test_missing_demos_collects_calibration_demos_once(monkeypatch, tmp_path) -> None:
    from experiments import collect_demos
    from experiments.dyq_table import CALIBRATION_DEMOS_PER_TASK, collect_calibration_demos

    calls = []

    def fake_run(cfg):
        calls.append(cfg)
        (tmp_path / "calib.hdf5").write_bytes(b"x")
        return 0

    monkeypatch.setattr(collect_demos, "run", fake_run)
    path = collect_calibration_demos(tmp_path / "calib.hdf5", 64)
    assert path == tmp_path / "calib.hdf5"
    (cfg,) = calls
    assert cfg.n_per_task == CALIBRATION_DEMOS_PER_TASK
    assert cfg.image_size == 64  # the acting policy's frame size
    assert cfg.suite == "object"
    collect_calibration_demos(tmp_path / "calib.hdf5", 64)
    assert len(calls) == 1  # reused, not collected again
