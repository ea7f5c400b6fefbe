"""The main job with a VLA policy behind the simulated runtime (random-weight tiny checkpoint)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _run(out: Path, *overrides: str) -> dict:
    env = {**os.environ, "MUJOCO_GL": "egl", "WANDB_MODE": "offline"}
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.run", f"hydra.run.dir={out}", "logger=none",
         "eval.progress=false", "eval.init_states=1", "eval.max_episode_steps=30",
         "eval.num_wait_steps=0", "env.image_size=64", *overrides],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


def test_realtime_modeled_deployment_changes_the_world_blocking_does_not(
    tmp_path, random_checkpoint
):
    common = ("policy=oft_tiny", f"policy.checkpoint={random_checkpoint}", "network=lte")
    rt = _run(tmp_path / "rt", *common, "runtime.mode=realtime")
    bl = _run(tmp_path / "bl", *common, "runtime.mode=blocking")
    assert rt["deployment"]["runtime"] == bl["deployment"]["runtime"] == "simulated"
    assert rt["deployment"]["latency_source"].startswith("model:openvla-7b@")
    ep_rt = json.loads((tmp_path / "rt" / "episodes.jsonl").read_text().splitlines()[0])
    ep_bl = json.loads((tmp_path / "bl" / "episodes.jsonl").read_text().splitlines()[0])
    # OpenVLA-7B over LTE takes several 50 ms control steps per inference: the robot holds meanwhile.
    assert ep_rt["extra"]["hold_steps"] > 0
    assert ep_bl["extra"]["hold_steps"] == 0
    assert ep_rt["extra"]["inferences"] < ep_bl["extra"]["inferences"]
    lat = rt["summary"]["step_latency_ms"]
    assert {"inference_ms", "edge_ms", "uplink_ms", "cloud_ms", "downlink_ms"} <= set(lat)
    assert lat["inference_ms"]["mean"] > 50.0


def test_emulated_runtime_crosses_a_real_link_to_a_server_process(tmp_path, random_checkpoint):
    os.environ.setdefault("VECC_WIRE_SECRET", "test-secret-for-the-emulated-main-job")
    res = _run(
        tmp_path / "em", "policy=oft_tiny", f"policy.checkpoint={random_checkpoint}",
        "runtime=emulated", "runtime.cut=7", "network=wifi",
    )  # fmt: skip
    dep = res["deployment"]
    assert dep["runtime"] == "emulated"
    assert dep["link"]["kind"] in ("netem", "tbf_userspace", "userspace")
    lat = res["summary"]["step_latency_ms"]
    assert {"inference_ms", "edge_ms", "cloud_ms", "network_ms"} <= set(lat)
    assert lat["cloud_ms"]["mean"] > 0  # the server process did part of every forward
    # counts and flags are not milliseconds: they are facts of each inference
    assert not {"round_trips", "fallback", "aborted"} & set(lat)
    facts = res["summary"]["inference"]
    assert facts["round_trips"]["mean"] >= 1
    assert facts["fallback_fraction"] == 0.0  # the server stayed up
    ep = json.loads((tmp_path / "em" / "episodes.jsonl").read_text().splitlines()[0])
    assert ep["extra"]["bytes_up"] > 0
    assert ep["extra"]["latency_source"].startswith("emulated:")


def test_dyq_quantized_policy_reports_its_precision_timeline(tmp_path, random_checkpoint):
    res = _run(
        tmp_path / "dyq", "policy=oft_tiny", f"policy.checkpoint={random_checkpoint}",
        "quantization=dyq", "runtime.mode=blocking",
    )  # fmt: skip
    q = res["deployment"]["quantization"]
    assert q["name"] == "dyq"
    assert q["acting_model_bytes"] > 0
    ep = json.loads((tmp_path / "dyq" / "episodes.jsonl").read_text().splitlines()[0])
    hist = ep["extra"]["precision_histogram"]
    assert abs(sum(hist.values()) - 1.0) < 1e-6
    assert set(hist) <= {"2", "4", "8", "16", "32"}


def test_failure_score_scheduler_with_dyq_in_the_main_job(tmp_path, random_checkpoint):
    cal = tmp_path / "safe.npz"
    hidden = 128  # oft-tiny LLM width: the feature the SAFE trigger reads
    np.savez(cal, mean=np.zeros(hidden), precision=np.eye(hidden), threshold=np.array(1e9))
    res = _run(
        tmp_path / "safe", "policy=oft_tiny", f"policy.checkpoint={random_checkpoint}",
        "scheduler=failure_score", f"scheduler.calibration={cal}", "policy.features=true",
        "quantization=dyq",
    )  # fmt: skip
    assert res["deployment"]["scheduler"] == "failure_score"
    assert res["deployment"]["quantization"]["name"] == "dyq"
    ep = json.loads((tmp_path / "safe" / "episodes.jsonl").read_text().splitlines()[0])
    assert ep["extra"]["preemptions"] == 0  # an unreachable threshold never fires
    assert "precision_histogram" in ep["extra"]


def test_emulated_runtime_against_a_separately_started_server(tmp_path, random_checkpoint):
    """The two-host recipe on one host: `python -m ecc.serve` started by hand, the edge given host:port."""
    from ecc.wire.transport import free_port

    port = free_port()
    env = {**os.environ, "VECC_WIRE_SECRET": "test-secret-for-the-emulated-main-job"}
    os.environ.update(VECC_WIRE_SECRET=env["VECC_WIRE_SECRET"])
    server = subprocess.Popen(
        [sys.executable, "-m", "ecc.serve", "--checkpoint", str(random_checkpoint), "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert "serving" in server.stdout.readline()
        res = _run(
            tmp_path / "remote", "policy=oft_tiny", f"policy.checkpoint={random_checkpoint}",
            "runtime=emulated", "runtime.start_local=false", "runtime.host=127.0.0.1",
            f"runtime.port={port}", "runtime.cut=7",
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert res["deployment"]["runtime"] == "emulated"
    assert res["deployment"]["link"]["kind"] == "none"  # a real network: nothing shaped here
    assert res["summary"]["step_latency_ms"]["cloud_ms"]["mean"] > 0
