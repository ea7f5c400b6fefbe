"""Sharded evaluation (issue 24 item 2): shard selector, merge checks, submitit multirun == unsharded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ecc.runtime.records import EpisodeRecord
from experiments.config_checks import ConfigError
from experiments.merge_shards import MergeError, merge_shards
from experiments.parallel_eval import episode_jobs, select_episodes
from experiments.results import RunWriter
from tests.experiments.main_job_runner import REPO_ROOT, run_main_job

PLAN = {"suite": "object", "tasks": ["a", "b"], "init_states": [0, 1], "max_episode_steps": 9}
TINY = ("runtime.mode=blocking", "logger=none", "eval.max_tasks=2", "eval.init_states=2",
        "eval.max_episode_steps=20", "eval.progress=false", "eval.workers=1")  # fmt: skip
SAME = ("task", "init_state", "seed", "success", "steps", "sim_time_s", "language")


def test_shards_tile_the_plan_in_order():
    jobs = episode_jobs(["a", "b", "c"], list(range(7)))
    for n in (1, 2, 4, 21):
        shards = [select_episodes(jobs, i, n) for i in range(n)]
        assert [j for s in shards for j in s] == jobs
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
    with pytest.raises(ConfigError, match=r"eval\.shard"):
        select_episodes(jobs, 4, 4)
    with pytest.raises(ConfigError, match=r"eval\.num_shards"):
        select_episodes(jobs, 0, 22)


def _fake_shard(root, shard, n, indices, config_extra=None, status_ok=True):
    """A shard run dir written by the real RunWriter (records made up: the merge is under test)."""
    config = {"seed": 0, "eval": {"shard": shard, "num_shards": n}, **(config_extra or {})}
    writer = RunWriter(root / str(shard), config, {"git_commit": "x"})
    for i in indices:
        task, k = PLAN["tasks"][i // 2], i % 2
        writer.add(EpisodeRecord("object", task, k, k, bool(i % 2), 5 + i, 0.25, 1.0))
    extra = {"eval_plan": PLAN,
             "episodes_run": {"indices": indices, "shard": shard, "num_shards": n}}  # fmt: skip
    if status_ok:
        writer.finish(extra)
    else:
        writer.fail(RuntimeError("killed"), extra)


def test_merge_rebuilds_rows_in_order_and_refuses_bad_sets(tmp_path):
    ok = tmp_path / "ok"
    _fake_shard(ok, 1, 2, [2, 3])
    _fake_shard(ok, 0, 2, [0, 1])
    result = merge_shards(ok)
    rows = [json.loads(x) for x in (ok / "merged" / "episodes.jsonl").read_text().splitlines()]
    assert [r["steps"] for r in rows] == [5, 6, 7, 8]
    assert result["summary"]["successes"] == 2
    merged = json.loads((ok / "merged" / "results.json").read_text())
    assert [s["shard"] for s in merged["provenance"]["merged_from"]] == [0, 1]

    missing = tmp_path / "missing"
    _fake_shard(missing, 0, 2, [0, 1])
    with pytest.raises(MergeError, match=r"shards \[1\] of 2 missing"):
        merge_shards(missing)
    other = tmp_path / "other"
    _fake_shard(other, 0, 2, [0, 1])
    _fake_shard(other, 1, 2, [2, 3], config_extra={"seed": 1})
    with pytest.raises(MergeError, match="another config"):
        merge_shards(other)
    failed = tmp_path / "failed"
    _fake_shard(failed, 0, 2, [0, 1])
    _fake_shard(failed, 1, 2, [2, 3], status_ok=False)
    with pytest.raises(MergeError, match="status='failed'"):
        merge_shards(failed)
    overlap = tmp_path / "overlap"
    _fake_shard(overlap, 0, 2, [0, 1])
    _fake_shard(overlap, 1, 2, [1, 2])
    with pytest.raises(MergeError, match="two shards"):
        merge_shards(overlap)
    assert not (missing / "merged").exists()


def _rows(path):
    return [{k: json.loads(x)[k] for k in SAME} for x in path.read_text().splitlines()]


@pytest.mark.slow
def test_submitit_local_four_shards_merge_to_the_unsharded_rows(tmp_path):
    whole = tmp_path / "whole"
    proc = run_main_job(whole, *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.run", "-m", "hydra/launcher=submitit_local",
         f"hydra.sweep.dir={sweep}", *TINY, "eval.shard=0,1,2,3", "eval.num_shards=4"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.tool", "tool=merge_shards", f"root={sweep}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert _rows(sweep / "merged" / "episodes.jsonl") == _rows(whole / "episodes.jsonl")


@pytest.mark.slow
def test_ray_local_four_shards_merge_to_the_unsharded_rows(tmp_path):
    pytest.importorskip("ray")
    whole = tmp_path / "whole"
    proc = run_main_job(whole, *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.run", "-m", "hydra/launcher=ray",
         "hydra.launcher.num_cpus=2", f"hydra.sweep.dir={sweep}", *TINY,
         "eval.shard=0,1,2,3", "eval.num_shards=4"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.tool", "tool=merge_shards", f"root={sweep}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert _rows(sweep / "merged" / "episodes.jsonl") == _rows(whole / "episodes.jsonl")
