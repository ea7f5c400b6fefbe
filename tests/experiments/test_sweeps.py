"""Hydra sweeps: W&B grouping of sweep jobs, and the joblib / submitit launchers end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra.types import RunMode
from omegaconf import OmegaConf

from experiments.loggers import WandbLogger, sweep_labels
from experiments.wandb_offline import find_offline_runs, read_offline_run

ROOT = Path(__file__).resolve().parents[2]
# Cheapest real job: scripted expert, no cameras, one episode of the first task.
CHEAP = (
    "policy=scripted_expert", "eval.init_states=1", "eval.max_tasks=1", "env.render=false",
    "eval.progress=false",
)  # fmt: skip


def _hydra_cfg(mode: RunMode) -> SimpleNamespace:
    return SimpleNamespace(
        mode=mode,
        sweep=SimpleNamespace(dir="multirun/2026-11-26/21-10-00"),
        job=SimpleNamespace(num=3, override_dirname="network=lte,seed=1"),
    )


def test_sweep_jobs_share_a_group_named_after_the_sweep_dir() -> None:
    logger_cfg = OmegaConf.create({"group": None, "name": None})
    labels = sweep_labels(_hydra_cfg(RunMode.MULTIRUN), logger_cfg)
    assert labels == {"group": "multirun/2026-11-26/21-10-00", "name": "3:network=lte,seed=1"}
    assert sweep_labels(_hydra_cfg(RunMode.RUN), logger_cfg) == {}


def test_user_group_wins_over_the_sweep_group() -> None:
    logger_cfg = OmegaConf.create({"group": "ablation-a", "name": None})
    assert sweep_labels(_hydra_cfg(RunMode.MULTIRUN), logger_cfg) == {
        "name": "3:network=lte,seed=1"
    }


def test_offline_run_records_its_group(tmp_path: Path) -> None:
    logger = WandbLogger(run_dir=tmp_path, run_config={"seed": 0}, group="multirun/x", name="0:a")
    logger.finish()
    run = read_offline_run(find_offline_runs(tmp_path)[0])
    assert run.group == "multirun/x"
    assert run.name == "0:a"


def _multirun(sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "experiments.run", "-m", f"hydra.sweep.dir={sweep_dir}",
         *CHEAP, *overrides],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def _span(run_dir: Path) -> tuple[datetime, datetime]:
    timing = json.loads((run_dir / "results.json").read_text())["timing"]
    return (
        datetime.fromisoformat(timing["started_utc"]),
        datetime.fromisoformat(timing["finished_utc"]),
    )


@pytest.mark.slow
def test_joblib_runs_two_jobs_at_once(tmp_path: Path) -> None:
    proc = _multirun(
        tmp_path, "hydra/launcher=joblib", "env=object,spatial", "network=wifi,lte", "logger=none"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    spans = [_span(tmp_path / str(k)) for k in range(4)]
    # n_jobs=2: job 0 and job 1 are dispatched together, so their lifetimes overlap.
    (s0, e0), (s1, e1) = spans[0], spans[1]
    assert s1 < e0
    assert s0 < e1


@pytest.mark.slow
def test_submitit_local_runs_a_two_job_sweep(tmp_path: Path) -> None:
    proc = _multirun(tmp_path, "hydra/launcher=submitit_local", "seed=0,1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    seeds = [json.loads((tmp_path / str(k) / "results.json").read_text())["config"]["seed"]
             for k in range(2)]  # fmt: skip
    assert seeds == [0, 1]
    assert list((tmp_path / ".submitit").glob("*/*_result.pkl"))
    groups = {read_offline_run(r).group for r in find_offline_runs(tmp_path)}
    assert groups == {str(tmp_path)}


def test_slurm_config_renders_an_sbatch_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped SLURM fields reach sbatch (rendered without a cluster: srun is faked)."""
    import shutil

    submitit = pytest.importorskip("submitit")
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from submitit.slurm.slurm import _make_sbatch_string

    which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name, *a, **k: f"/usr/bin/{name}" if name == "srun" else which(name)
    )
    cfg = OmegaConf.load(ROOT / "conf/hydra/launcher/submitit_slurm.yaml")
    cfg.partition = "cpu"
    params = {k: v for k, v in OmegaConf.to_container(cfg).items() if k != "_target_"}
    params.pop("submitit_folder")
    params["name"] = "vecc"
    # the plugin's own mapping: base fields as they are, SLURM-specific ones prefixed
    executor = submitit.AutoExecutor(
        cluster="slurm", folder="/tmp/x", slurm_max_num_timeout=params.pop("max_num_timeout")
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    script = _make_sbatch_string(command="true", folder="/tmp/x", **executor._executor.parameters)
    for line in ("--partition=cpu", "--cpus-per-task=2", "--mem=8GB", "--time=120"):
        assert f"#SBATCH {line}" in script
