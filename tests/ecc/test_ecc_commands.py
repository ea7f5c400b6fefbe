"""Smoke tests: the ecc commands run end to end with tiny budgets and write what they promise."""

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_check_anchors_passes():
    assert "FAIL" not in run("experiments.check_anchors")


def test_roboecc_table_writes_csv_md_png(tmp_path):
    out = run("experiments.table", "table=roboecc", f"out={tmp_path}", "bandwidths=[5,100]",
              "granularity=block", "skip_adaptive=true", f"hydra.run.dir={tmp_path}")  # fmt: skip
    assert "Speedup over edge-only" in out
    with open(tmp_path / "speedup.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 2 * 2  # conventions x models x hardware pairs x bandwidths
    assert all(float(r["speedup"]) >= 1.0 - 1e-9 for r in rows)  # never worse than edge-only
    md = (tmp_path / "speedup.md").read_text()
    assert md.startswith("## RoboECC speed-up, our setting")
    assert "\n| convention |" in md
    assert (tmp_path / "speedup.png").stat().st_size > 1000


def test_planner_speed_runs():
    out = run("experiments.bench", "bench=planner_speed", "cases=10", "repeats=2", "conditions=500",
              "hydra.output_subdir=null", "hydra/job_logging=none")  # fmt: skip
    assert "0 mismatches" in out


def test_train_bw_predictor_and_use_checkpoint(tmp_path):
    ckpt = tmp_path / "bw.safetensors"
    out = run("experiments.tool", "tool=train_bw_predictor", "duration_s=200", "epochs=1",
              f"out={ckpt}", f"hydra.run.dir={tmp_path / 'run'}")  # fmt: skip
    assert "lstm" in out
    from ecc.adaptive import simulate_adaptive
    from ecc.network.link import LinkState
    from ecc.network.traces import step
    from ecc.planners import RoboECCPlanner, make_context

    ctx = make_context("openvla-7b", "orin_agx_64gb", "a100_80gb", granularity="block")
    planner = RoboECCPlanner(predictor="lstm", predictor_kwargs={"checkpoint": str(ckpt)})
    res = simulate_adaptive(
        ctx, planner, step([100, 0.5], 5, 400), LinkState(50, 200, 10), n_actions=60
    )
    assert res.switches >= 1
    assert res.overhead_pct < 5
