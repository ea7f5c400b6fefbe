"""Hydra launcher: every job of a multirun is one Ray task on a local or remote Ray cluster.

``address``: null starts a local Ray instance for the sweep (``num_cpus`` CPUs, null: all);
``auto`` or ``ray://host:10001`` joins a running cluster. Each job reserves ``cpus_per_job``
CPUs (s) and runs with that many BLAS/OpenMP threads; the job's run dir, logs and return value are
Hydra's own (``run_job``), returned to the sweep as ``JobReturn``s in job order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)


def _run_remote(
    hydra_context: HydraContext,
    sweep_config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
) -> JobReturn:
    """Inside the Ray worker: restore Hydra's globals and run the job as the basic launcher does."""
    setup_globals()
    Singleton.set_state(singleton_state)
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


class RayLauncher(Launcher):
    def __init__(
        self, address: str | None = None, num_cpus: int | None = None, cpus_per_job: int = 1
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.cpus_per_job = cpus_per_job
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        import ray  # optional dependency (the `ray` extra); loaded only when this launcher runs

        if self.config is None or self.hydra_context is None:
            raise RuntimeError("RayLauncher.launch before setup")
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        started_here = not ray.is_initialized()
        if started_here:
            # the workers import the project from this checkout, not from a stale install
            path = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p)
            threads = str(self.cpus_per_job)
            env = {"PYTHONPATH": path, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
            ray.init(
                address=self.address,
                num_cpus=self.num_cpus if self.address is None else None,
                include_dashboard=False,
                runtime_env={"env_vars": env},
                log_to_driver=True,
            )
        remote = ray.remote(num_cpus=self.cpus_per_job, max_retries=0)(_run_remote)
        refs = []
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            lst = " ".join(filter_overrides(overrides))
            log.info("\t#%d : %s", idx, lst)
            sweep_config = self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides)
            )
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = f"ray_{idx}"
                sweep_config.hydra.job.num = idx
            refs.append(
                remote.remote(
                    self.hydra_context, sweep_config, self.task_function, Singleton.get_state()
                )
            )
        try:
            return ray.get(refs)
        finally:
            if started_here:
                ray.shutdown()
