"""Parallel evaluation (issue 24): worker processes give the sequential run's episodes."""

from __future__ import annotations

import json

import pytest

from experiments.config_checks import ConfigError
from experiments.parallel_eval import _chunks, episode_jobs, resolve_workers
from tests.experiments.main_job_runner import run_main_job

# A tiny blocking eval: 1 task x 3 init states, 25 control steps per episode.
TINY = ("runtime.mode=blocking", "logger=none", "eval.init_states=3", "eval.max_episode_steps=25",
        "eval.progress=false")  # fmt: skip
SAME = ("task", "init_state", "seed", "success", "steps", "sim_time_s", "language")


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "episodes.jsonl").read_text().splitlines()]


def test_chunks_cover_every_episode_once_in_task_order():
    jobs = episode_jobs(["a", "b", "c"], [0, 1, 2, 3, 4])
    for workers in (1, 2, 4, 7, 20):
        chunks = _chunks(jobs, workers)
        flat = [j for c in chunks for j in c]
        assert flat == jobs
        assert all(len({j.task for j in c}) == 1 for c in chunks)  # one env + actor per chunk
        assert len(chunks) >= min(workers, len(jobs)) or len(chunks) == len(jobs)


def test_workers_field_is_checked_and_capped():
    assert resolve_workers(8, 3) == 3
    assert resolve_workers(1, 30) == 1
    assert resolve_workers(None, 100) >= 1
    for bad in (0, -2, "two", True):
        with pytest.raises(ConfigError, match=r"eval\.workers"):
            resolve_workers(bad, 10)


@pytest.mark.slow
def test_two_workers_give_the_sequential_rows(tmp_path):
    seq, par = tmp_path / "seq", tmp_path / "par"
    for run_dir, workers in ((seq, 1), (par, 2)):
        proc = run_main_job(run_dir, *TINY, f"eval.workers={workers}")
        assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = rows(seq), rows(par)
    assert len(a) == len(b) == 3
    for ra, rb in zip(a, b):
        assert {k: ra[k] for k in SAME} == {k: rb[k] for k in SAME}
        assert ra["extra"].get("time_aware") == rb["extra"].get("time_aware")
    results = json.loads((par / "results.json").read_text())
    assert results["status"] == "ok"
    assert results["episodes_run"]["workers"] == 2
    assert results["summary"]["episodes"] == 3


def test_bad_workers_value_fails_before_writing(tmp_path):
    proc = run_main_job(tmp_path / "run", *TINY, "eval.workers=0")
    assert proc.returncode == 2
    assert "eval.workers" in proc.stdout + proc.stderr
    assert not (tmp_path / "run" / "results.json").exists()
