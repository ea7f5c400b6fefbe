"""Main job: closed-loop evaluation of an actor on LIBERO-like tasks.

    python -m experiments.run                      # embedded default: a short evaluation
    python -m experiments.run env=goal eval.init_states=50 logger=none

Reads as a story: validate the config, open the run directory, then for every task build the
environment and the actor, play the episodes, write each as it finishes, and print the summary.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from core.errors import VeccError
from core.provenance import input_fingerprints, provenance
from experiments.loggers import sweep_labels
from experiments.parallel_eval import (
    episode_jobs,
    resolve_workers,
    run_parallel,
    run_sequential,
    select_episodes,
)
from experiments.report import print_summary
from experiments.results import RunWriter

log = logging.getLogger("experiments.run")

# conf/hydra/launcher/{joblib,submitit_local,submitit_slurm}.yaml shadow the launcher plugins' configs
# of the same name on purpose (so `hydra/launcher=joblib` keeps its name; the plugin's schema then
# validates our values). Hydra 1.3 still does that but warns on every sweep; the files carry every
# field and `_target_`, so they also work where the schema matching is gone.
warnings.filterwarnings(
    "ignore", message=r"\s*'hydra/launcher/\w+' is validated against ConfigStore schema"
)


def evaluate(
    cfg: DictConfig, run_dir: Path, logger_labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """Evaluate ``cfg`` into ``run_dir``; ``logger_labels`` (W&B group/name) group sweep jobs."""
    # Imported here, not at the top: it loads torch and robosuite (~5 s on a busy 2-core
    # machine), and `--help` and every Tab of the shell completion import this module.
    from agents.actor import resolve_checkpoint
    from experiments.config_checks import resolve_eval_plan

    plan = resolve_eval_plan(cfg)  # fails before anything is written if the config is bad
    jobs = episode_jobs(plan.tasks, plan.init_states)
    if cfg.eval.get("num_shards") is not None:  # one shard of a cluster run (eval.shard)
        jobs = select_episodes(jobs, cfg.eval.get("shard", 0), cfg.eval.num_shards)
    workers = resolve_workers(cfg.eval.get("workers"), len(jobs))
    config = OmegaConf.to_container(cfg, resolve=True)
    started = time.time()
    writer = RunWriter(
        run_dir,
        config,
        {
            **provenance(),
            "seed": cfg.seed,
            "started_utc": _utc(started),
            "inputs": input_fingerprints(config),  # sha256 of checkpoint, traces, calibration
        },
    )
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    # Built with _partial_: Hydra would otherwise try to instantiate the `_target_`s inside run_config.
    logger = instantiate(cfg.logger, _partial_=True)(
        run_dir=run_dir, run_config=config, **(logger_labels or {})
    )
    progress = _progress(len(jobs), enabled=cfg.eval.progress)
    deployment: dict[str, Any] = {}
    failure: BaseException | None = None
    subscribers = [writer, logger]  # episodes.jsonl first, then the logger

    def on_episode(job: Any, record: Any) -> None:
        progress.advance(f"{job.task} #{job.init_state}: {'ok' if record.success else 'fail'}")

    args = (cfg, plan.suite, plan.max_episode_steps, jobs, plan.init_states, run_dir)
    try:
        if workers == 1:
            deployment = run_sequential(*args, subscribers, on_episode)
        else:
            deployment = run_parallel(*args, subscribers, on_episode, workers)
    except BaseException as e:  # Ctrl-C included: the run dir must say it did not finish
        failure = e
        raise
    finally:
        progress.close()
        # Start/end stamps let a sweep's run dirs show which jobs ran at the same time.
        ended = time.time()
        timing = {
            "started_utc": _utc(started),
            "finished_utc": _utc(ended),
            "wall_s": ended - started,
        }
        extra = {"eval_plan": plan.as_dict(), "deployment": deployment, "timing": timing}
        extra["episodes_run"] = {
            "indices": [job.index for job in jobs],
            "shard": cfg.eval.get("shard") if cfg.eval.get("num_shards") is not None else None,
            "num_shards": cfg.eval.get("num_shards"),
            "workers": workers,
        }
        if failure is not None:
            # A failed run must not read as a result: no summary, no success rate.
            writer.fail(failure, extra)
            logger.finish(failed=True)
        else:
            summary = writer.finish(extra)
            logger.log_summary(summary)
            files = {"results.json": writer.results_path, "episodes.jsonl": writer.episodes_path,
                     "config.yaml": run_dir / "config.yaml"}  # fmt: skip
            checkpoint = cfg.policy.get("checkpoint")
            logger.log_files(files, resolve_checkpoint(checkpoint) if checkpoint else None)
            logger.finish()
    print_summary(summary, title=_title(cfg, plan.suite, deployment), deployment=deployment)
    print(f"\nResults: {writer.results_path}\nEpisodes: {writer.episodes_path}")
    print(logger.describe())
    print(f"Tables and plots: python -m experiments.tool tool=aggregate root={run_dir}")
    return summary


def _utc(t: float) -> str:
    """ISO-8601 UTC time stamp (ms resolution) of a ``time.time()`` value (s)."""
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="milliseconds")


def _title(cfg: DictConfig, suite: str, deployment: dict[str, Any]) -> str:
    """``object | pi0-tiny (checkpoints/object/pi0_tiny) | runtime simulated, blocking``."""
    policy = cfg.policy
    # A remote policy is named by its server (deployment.acts_through), not by its actor class.
    name = deployment.get("acts_through")
    if not name:
        name = policy.get("shape") or str(policy.get("_target_", "?")).rsplit(".", 1)[-1]
        if policy.get("checkpoint"):
            name += f" ({policy.checkpoint})"
    runtime = cfg.get("runtime") or {}
    if deployment.get("runtime") == "none":  # the actor acted directly, whatever cfg.runtime says
        how = "none (acts directly)"
    else:
        how = runtime.get("kind", "none") + (f", {runtime.mode}" if runtime.get("mode") else "")
    return f"{suite} | policy {name} | runtime {how}"


class _progress:
    """A tqdm bar that is silent when disabled (e.g. inside sweeps)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="ep", desc="episodes", file=sys.stderr)

    def advance(self, note: str) -> None:
        if self._bar is not None:
            self._bar.update(1)
            # long runs: episodes per minute and the time left at that mean rate
            elapsed_s = self._bar.format_dict["elapsed"]
            done, left = self._bar.n, self._bar.total - self._bar.n
            per_min = 60.0 * done / elapsed_s if elapsed_s > 0 else 0.0
            eta = self._bar.format_interval(left * elapsed_s / done) if done else "?"
            self._bar.set_postfix_str(f"{per_min:.1f} ep/min, {eta} left | {note}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        summary = evaluate(cfg, run_dir, sweep_labels(hydra_cfg, cfg.logger))
    except VeccError as e:
        from experiments.config_checks import ConfigError  # loaded by evaluate already

        if isinstance(e, ConfigError):
            # A clear message, not a traceback: the field, the bad value, the allowed values.
            log.error("config error: %s", e)
            sys.exit(2)
        log.error("run failed: %s", e)  # a bad input file (checkpoint, demos, trace) or peer
        sys.exit(1)
    return float(summary["success_rate"])  # Hydra sweepers/optimisers read the return value


if __name__ == "__main__":
    main()
