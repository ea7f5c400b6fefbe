"""The main job acting through an openpi-protocol server (issue 25 acc. 4, second half)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ecc.openpi_server_proc import openpi_server
from tests.experiments.main_job_runner import run_main_job

ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT / "checkpoints/object/pi0_tiny"

pytest.importorskip("websockets.sync.client")


def _episodes(run_dir: Path) -> list[tuple]:
    rows = [json.loads(line) for line in (run_dir / "episodes.jsonl").read_text().splitlines()]
    return [(r["task"], r["init_state"], r["success"], r["steps"]) for r in rows]


def test_main_job_acts_through_an_openpi_server_as_the_local_policy_would(tmp_path):
    common = ("eval.init_states=1", "eval.workers=1", "eval.progress=false", "logger=none")
    with openpi_server(CKPT, tmp_path) as port:
        remote = run_main_job(
            tmp_path / "remote", "policy=openpi_remote", f"policy.port={port}", *common
        )
    assert remote.returncode == 0, remote.stderr[-3000:]
    said = " ".join(remote.stdout.split())  # rich wraps the report lines at the terminal width
    assert f"on openpi server ws://127.0.0.1:{port} (pi0-tiny, unauthenticated)" in said
    results = json.loads((tmp_path / "remote/results.json").read_text())
    assert results["deployment"]["acts_through"].startswith("openpi server ws://")
    infer = results["summary"]["step_latency_ms"]["infer_ms"]
    assert infer["n"] > 0
    assert infer["mean"] > 0  # a measured round trip, not a model
    # The server runs the same checkpoint with the same per-episode noise: the same episode.
    local = run_main_job(tmp_path / "local", "runtime=none", *common)
    assert local.returncode == 0, local.stderr[-3000:]
    assert _episodes(tmp_path / "remote") == _episodes(tmp_path / "local")
