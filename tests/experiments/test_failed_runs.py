"""A failed run never leaves a file that reads as a result (issue 22): bad inputs, one clear line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from experiments.aggregate import aggregate
from tests.experiments.main_job_runner import run_main_job

ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT / "checkpoints" / "object" / "pi0_tiny"


@pytest.mark.parametrize(
    ("overrides", "drop_env", "expected"),
    [
        (("seed=abc",), (), "seed='abc' is not allowed; allowed: an integer >= 0"),
        (
            ("policy.checkpoint=/nonexistent/ckpt",),
            (),
            "policy.checkpoint='/nonexistent/ckpt' is not allowed",
        ),
        (("runtime=emulated",), ("VECC_WIRE_SECRET",), "VECC_WIRE_SECRET is unset"),
    ],
)
def test_bad_input_is_one_line_before_anything_is_written(
    tmp_path: Path, overrides: tuple[str, ...], drop_env: tuple[str, ...], expected: str
) -> None:
    proc = run_main_job(tmp_path, *overrides, "logger=none", drop_env=drop_env)
    err = proc.stderr + proc.stdout
    assert proc.returncode == 2, err[-2000:]
    assert expected in err
    assert "Traceback" not in err
    assert not (tmp_path / "results.json").exists()
    assert not (tmp_path / "episodes.jsonl").exists()


def test_corrupt_checkpoint_fails_clearly_and_aggregate_skips_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad_ckpt"
    shutil.copytree(CKPT, bad)
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated: the sha256 no longer matches
    failed_dir = tmp_path / "runs" / "failed"
    proc = run_main_job(failed_dir, f"policy.checkpoint={bad}", "logger=none", "eval.init_states=1")
    err = proc.stderr + proc.stdout
    assert proc.returncode == 1, err[-2000:]
    assert "corrupt or truncated" in err
    assert "Traceback" not in err
    text = (failed_dir / "results.json").read_text()
    results = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    assert results["status"] == "failed"
    assert "summary" not in results  # nothing that reads as a success rate
    assert "CheckpointError" in results["error"]

    ok_dir = tmp_path / "runs" / "ok"
    proc = run_main_job(
        ok_dir,
        "policy=scripted_expert",
        "logger=none",
        "eval.init_states=1",
        "eval.max_episode_steps=5",
        "eval.progress=false",
    )
    assert proc.returncode == 0, (proc.stderr + proc.stdout)[-2000:]
    assert json.loads((ok_dir / "results.json").read_text())["status"] == "ok"
    out = aggregate(tmp_path / "runs", tmp_path / "agg", plots=False)
    assert len(out["rows"]) == 1
    assert out["failed"] == [failed_dir.resolve()]
    assert "Skipped 1 failed run(s)" in (tmp_path / "agg" / "summary.md").read_text()
