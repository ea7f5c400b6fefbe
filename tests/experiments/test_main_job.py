"""The main job as a user runs it: a subprocess with overrides (CleanRL-style smoke tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *overrides: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUJOCO_GL": "egl", "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "experiments.run", f"hydra.run.dir={tmp_path}", *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_main_job_writes_results_episodes_provenance_and_wandb(tmp_path):
    proc = _run(tmp_path, "eval.init_states=1", "eval.progress=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    summary = results["summary"]
    assert summary["episodes"] == 1
    assert (
        0.0 <= summary["success_ci95"][0] <= summary["success_rate"] <= summary["success_ci95"][1]
    )
    assert results["config"]["env"]["suite"] == "object"
    assert results["provenance"]["versions"]["mujoco"] == "3.9.0"
    assert set(summary["step_latency_ms"]) >= {"policy_ms", "env_ms"}
    rows = (tmp_path / "episodes.jsonl").read_text().splitlines()
    assert len(rows) == 1
    # the embedded default acts with the committed tiny VLA (images + proprio), not the expert
    assert results["config"]["policy"]["checkpoint"] == "checkpoints/object/pi0_tiny"
    assert json.loads(rows[0])["extra"].get("privileged_state") is not True
    assert (tmp_path / "config.yaml").is_file()
    assert list((tmp_path / "wandb").glob("offline-run-*"))
    assert "Results:" in proc.stdout
    assert "wandb sync" in proc.stdout


@pytest.mark.parametrize(
    ("override", "field", "allowed"),
    [
        ("env.suite=kitchen", "env.suite='kitchen'", "spatial, object, goal, long"),
        ("env.tasks=[fly_away]", "'fly_away'", "milk_in_basket"),
        ("env.perturbation=fog", "env.perturbation='fog'", "standard, visual_noise, interference"),
        ("env.image_size=0", "env.image_size=0", "[8, 1024]"),
        ("eval.init_states=51", "eval.init_states=51", "[1, 50]"),
        ("runtime.mode=async", "runtime.mode='async'", "blocking, realtime"),
        ("quantization=smoothquant_w8a8", "+calibration.demos=", "quantization=none, bf16"),
    ],
)
def test_bad_config_fails_at_start_up_naming_field_and_allowed_values(
    tmp_path, override, field, allowed
):
    proc = _run(tmp_path, override, "logger=none", timeout=120)
    assert proc.returncode == 2
    err = proc.stderr + proc.stdout
    assert field in err
    assert allowed in err
    assert "Traceback" not in err
    assert not (tmp_path / "results.json").exists()  # nothing ran, nothing half-written


def test_quantization_without_the_simulated_runtime_is_refused_at_start_up(tmp_path):
    # runtime=none would act with the unquantized model while results.json says dyq.
    proc = _run(tmp_path, "runtime=none", "quantization=dyq", "logger=none", timeout=120)
    assert proc.returncode == 2
    err = proc.stderr + proc.stdout
    assert "quantization.name='dyq'" in err
    assert "runtime.kind='simulated'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "results.json").exists()
