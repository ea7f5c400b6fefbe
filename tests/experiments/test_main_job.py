"""The main job as a user runs it: a subprocess with overrides (CleanRL-style smoke tests)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.experiments.main_job_runner import run_main_job

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *overrides: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return run_main_job(tmp_path, *overrides, timeout=timeout)


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
    _first_run_explains_itself(proc, summary)
    _wandb_run_reads_back(tmp_path, summary)


def _first_run_explains_itself(proc: subprocess.CompletedProcess, summary: dict) -> None:
    """Issue 25 acc. 1: no start-up chatter, where inferences ran, the link, world time."""
    head = (proc.stderr + proc.stdout).splitlines()[:30]
    assert not [line for line in head if "robosuite" in line.lower() or "OpenGL" in line]
    lines = [line.strip() for line in head if line.strip() and not line.startswith("episodes:")]
    assert len(lines) == len(set(lines)), "a duplicated line among the first 30"
    out = " ".join(proc.stdout.split())  # rich wraps at 80 columns
    n = summary["inference"]["count"]
    assert f"where inferences ran: {n} inferences" in out
    assert "world time: blocking" in out
    assert "policy pi0-tiny (checkpoints/object/pi0_tiny)" in out
    assert "per control step (ms" in out
    assert "per inference (ms)" in out
    facts = summary["inference"]
    assert facts["bytes_up"] > 0
    assert sum(facts["cuts"].values()) == n


def _wandb_run_reads_back(run_dir: Path, summary: dict) -> None:
    """Issue 25 acc. 2, read with W&B's own reader: per-task success, timeline plots, the results
    artifact and the first episode's video with its decisions panel."""
    import imageio.v2 as imageio

    from experiments.wandb_offline import find_offline_runs, read_offline_run

    (offline,) = find_offline_runs(run_dir)
    run = read_offline_run(offline)
    assert run.summary["success_rate/object/milk_in_basket"] == summary["success_rate"]
    assert "success/object/milk_in_basket" not in run.summary  # a last episode's 0/1 is not a rate
    assert run.summary["episodes"] == 1
    assert run.summary["success_ci95_low"] in (0.0, summary["success_ci95"][0])
    logged = {k for row in run.history for k in row}
    assert {"timeline/inference_ms_ep0_table.path", "timeline/cut_ep0_table.path"} <= logged
    assert {"episode/inferences", "episode/hold_steps", "episode/bytes_up"} <= logged
    assert "episode/success/object/milk_in_basket" in logged
    (results,) = [a for a in run.artifacts.values() if a["type"] == "eval-results"]
    assert {"results.json", "episodes.jsonl", "config.yaml"} <= set(results["files"])
    assert "checkpoint/config.json" in results["files"]
    (video,) = list(offline.glob("files/media/videos/episode/video_*.mp4"))
    frames = imageio.mimread(str(video))
    assert len(frames) == summary["mean_steps"]
    assert frames[0].shape == (128, 256, 3)  # 128 px scene + 128 px decisions panel
    panel = np.asarray(frames[5])[:, 128:].astype(int)
    assert (panel.max(axis=2) > 150).sum() > 200  # light text on the dark panel


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


# Recorded from the unchanged code (cee3136, before the typed step record): pi0_tiny, object suite,
# modeled OpenVLA-7B on Orin + A100 over network=wifi (a link without a trace: issue 20's
# schedule pricing changes traced links on purpose, untraced ones are priced as before), seed 0,
# one 30-step episode. field: (mean, p50, p95, n) in ms
_BEFORE = {
    "blocking": {
        "inferences": 4, "hold_steps": 0, "bytes_up": 603136, "uplink_mbps_mean": 100.0,
        "inference_ms": (149.02189733113568, 148.90070505832045, 150.38726452308265, 4),
        "edge_ms": (0.0, 0.0, 0.0, 4),
        "uplink_ms": (14.163916540930938, 14.206025521447668, 14.467638376044661, 4),
        "cloud_ms": (132.9852626938237, 132.9852626938237, 132.9852626938237, 4),
        "downlink_ms": (1.872718096381035, 1.9388293311591838, 3.2795822128110093, 4),
    },
    "realtime": {
        "inferences": 3, "hold_steps": 10, "bytes_up": 452352, "uplink_mbps_mean": 100.0,
        "inference_ms": (148.95689708560585, 148.58451204891574, 150.392871006811, 3),
        "edge_ms": (0.0, 0.0, 0.0, 3),
        "uplink_ms": (14.307749259020996, 14.220807680014362, 14.482157828752324, 3),
        "cloud_ms": (132.9852626938237, 132.9852626938237, 132.9852626938237, 3),
        "downlink_ms": (1.663885132761152, 1.3784416750776827, 3.2134085183929635, 3),
    },
}  # fmt: skip


@pytest.mark.parametrize("mode", sorted(_BEFORE))
def test_typed_step_record_keeps_the_numbers_of_the_untyped_one(tmp_path, mode):
    proc = _run(
        tmp_path, "logger=none", "eval.progress=false", "eval.init_states=1",
        "eval.max_episode_steps=30", "eval.num_wait_steps=0", f"runtime.mode={mode}", "network=wifi",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    want = _BEFORE[mode]
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    assert summary["successes"] == 0
    lat = summary["step_latency_ms"]
    for name in ("inference_ms", "edge_ms", "uplink_ms", "cloud_ms", "downlink_ms"):
        got = (lat[name]["mean"], lat[name]["p50"], lat[name]["p95"], lat[name]["n"])
        assert got == pytest.approx(want[name], rel=1e-9, abs=1e-12), name
    # misfiled before: not milliseconds, so no longer among the per-step ms fields
    assert not {"uplink_mbps", "fallback", "round_trips", "aborted"} & set(lat)
    facts = summary["inference"]
    assert facts["count"] == want["inferences"]
    assert facts["uplink_mbps"]["mean"] == pytest.approx(want["uplink_mbps_mean"], rel=1e-9)
    assert facts["fallback_fraction"] == 0.0
    row = json.loads((tmp_path / "episodes.jsonl").read_text().splitlines()[0])
    extra = row["extra"]
    assert (extra["inferences"], extra["hold_steps"], extra["bytes_up"]) == (
        want["inferences"], want["hold_steps"], want["bytes_up"],
    )  # fmt: skip
    per_episode = extra["episode_summary"]
    assert per_episode["steps"] == row["steps"] == 30
    mean, _, _, n = want["inference_ms"]
    assert per_episode["per_step_ms"] == pytest.approx(mean * n / 30, rel=1e-9)
    assert per_episode["per_inference_ms"] == pytest.approx(mean, rel=1e-9)
    remote = sum(want[f][0] for f in ("uplink_ms", "cloud_ms", "downlink_ms")) * n / 30
    assert per_episode["cloud_per_step_ms"] == pytest.approx(remote, rel=1e-9)
    assert per_episode["cloud_calls"] == n
    assert per_episode["edge_memory_bytes"] == 0.0  # the planner put everything in the cloud
    assert extra["timeline"]["fallback"] == [False] * n
