"""Experiment loggers selected by the Hydra group ``logger``: W&B (offline by default) or none.

Both are subscribers (``ecc.runtime.subscribers``): the rollout tells them when an episode starts
(its index and video path) and hands them the finished record.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ecc.runtime.records import EpisodeRecord, EpisodeStart, EpisodeSummary
from ecc.runtime.subscribers import SubscriberBase
from experiments.timeline import COLUMNS as TIMELINE_COLUMNS

log = logging.getLogger(__name__)

# Per-episode counts of what the actor did (EpisodeRecord.extra), logged as episode/<name>.
EPISODE_COUNTS = ("inferences", "hold_steps", "preemptions", "stale_dropped", "bytes_up",
                  "bytes_down")  # fmt: skip
# W&B caps group names at 128 characters.
_MAX_GROUP_CHARS = 128


def sweep_labels(hydra_cfg: DictConfig, logger_cfg: DictConfig) -> dict[str, str]:
    """W&B ``group``/``name`` for a job of a Hydra multirun; empty for a single run.

    All jobs of one sweep share the group (the sweep directory, e.g. ``multirun/2026-11-26/21-10-00``)
    so the W&B UI groups them; the name is the job number and its overrides. Values the user set
    in ``logger.group`` / ``logger.name`` win.
    """
    from hydra.types import RunMode

    if hydra_cfg.mode != RunMode.MULTIRUN:
        return {}
    labels = {
        "group": Path(hydra_cfg.sweep.dir).as_posix()[-_MAX_GROUP_CHARS:],
        "name": f"{hydra_cfg.job.num}:{hydra_cfg.job.override_dirname}"[:_MAX_GROUP_CHARS],
    }
    return {k: v for k, v in labels.items() if logger_cfg.get(k) is None}


class _EpisodeLogger(SubscriberBase):
    """Subscriber side of a logger: ``on_episode_end`` logs the record under its start's index."""

    _start: EpisodeStart | None = None

    def on_episode_start(self, start: EpisodeStart) -> None:
        self._start = start

    def on_episode_end(self, record: EpisodeRecord) -> None:
        start = self._start
        self.log_episode(
            record,
            start.index if start is not None else 0,
            video=start.video_path if start is not None else None,
        )

    def log_episode(
        self, record: EpisodeRecord, index: int, video: str | Path | None = None
    ) -> None:
        raise NotImplementedError


class NullLogger(_EpisodeLogger):
    """Logs nothing (``logger=none``)."""

    def __init__(self, **_: Any) -> None:
        pass

    def log_episode(
        self, record: EpisodeRecord, index: int, video: str | Path | None = None
    ) -> None:
        pass

    def log_summary(self, summary: dict[str, Any]) -> None:
        pass

    def log_files(self, files: dict[str, Path], checkpoint: Path | None = None) -> None:
        pass

    def finish(self, failed: bool = False) -> None:
        pass

    def describe(self) -> str:
        return "W&B disabled (logger=none)"


class WandbLogger(_EpisodeLogger):
    """A W&B run; ``mode="offline"`` writes it under the run directory for a later ``wandb sync``."""

    def __init__(
        self,
        *,
        run_dir: str | Path,
        run_config: dict[str, Any],
        project: str = "vla-ecc-lab",
        mode: str = "offline",
        entity: str | None = None,
        group: str | None = None,
        job_type: str = "eval",
        tags: list[str] | None = None,
        name: str | None = None,
        timeline_episodes: int = 3,
    ) -> None:
        """``timeline_episodes``: the first N episodes log their decision timelines as tables."""
        allowed = ("offline", "online", "disabled")
        if mode not in allowed:
            raise ValueError(f"logger.mode={mode!r} is not one of {allowed}")
        import wandb  # imported lazily: it is slow and only this logger needs it

        os.environ.setdefault("WANDB_SILENT", "true")
        self._wandb = wandb
        self.run = wandb.init(
            project=project,
            entity=entity,
            mode=mode,
            group=group,
            job_type=job_type,
            tags=list(tags or []),
            name=name,
            dir=str(run_dir),
            config=run_config,
            reinit="finish_previous",
        )
        self.mode = mode
        self.run_dir = Path(self.run.dir).parent if self.run is not None else None
        self._rows: list[list[Any]] = []
        self.timeline_episodes = timeline_episodes

    def log_episode(
        self, record: EpisodeRecord, index: int, video: str | Path | None = None
    ) -> None:
        """Per-episode metrics; ``video``: an mp4 of the episode to attach as W&B media."""
        metrics: dict[str, Any] = {
            "episode/success": float(record.success),
            "episode/steps": record.steps,
            "episode/sim_time_s": record.sim_time_s,
            "episode/wall_time_s": record.wall_time_s,
        }
        for name, values in record.step_latency_ms.items():
            if values:
                metrics[f"latency_ms/{name}_mean"] = sum(values) / len(values)
                metrics[f"latency_ms/{name}_hist"] = self._wandb.Histogram(values)
        timeline = record.extra.get("timeline") or {}
        summary = record.extra.get("episode_summary")
        if summary is not None:
            counts = EpisodeSummary.from_json(summary)
            if "cloud_ms" in timeline:  # only sources that price the cloud part can count calls
                metrics["episode/cloud_calls"] = counts.cloud_calls
            metrics["episode/fallbacks"] = counts.fallbacks
        for name in EPISODE_COUNTS:  # inferences, holds, preemptions, bytes: what the actor did
            if isinstance(record.extra.get(name), int | float):
                metrics[f"episode/{name}"] = record.extra[name]
        # Under episode/ like the other per-episode values: the run summary keeps the last
        # episode's 0/1 there, and success_rate/<suite>/<task> (log_summary) holds the rate.
        metrics[f"episode/success/{record.suite}/{record.task}"] = float(record.success)
        if timeline and index < self.timeline_episodes:
            metrics.update(self._timeline_tables(timeline, index))
            metrics.update(self._timeline_plots(timeline, index))
        if video is not None and Path(video).is_file():
            # A file path is copied as is (no re-encoding, so no moviepy needed).
            metrics["episode/video"] = self._wandb.Video(str(video), format="mp4")
        self.run.log(metrics, step=index)
        self._rows.append(
            [
                record.suite,
                record.task,
                record.init_state,
                record.seed,
                record.success,
                record.steps,
            ]
        )

    def _timeline_tables(self, timeline: dict[str, list[Any]], index: int) -> dict[str, Any]:
        """Per-inference decisions (step, latency, cut, bandwidth) and per-action precision."""
        out: dict[str, Any] = {}
        cols = [c for c in TIMELINE_COLUMNS if c in timeline]
        if cols:
            rows = [list(r) for r in zip(*(timeline[c] for c in cols))]
            out[f"timeline/decisions_ep{index}"] = self._wandb.Table(columns=cols, data=rows)
        if "act_bits" in timeline:
            rows = [[k, b] for k, b in enumerate(timeline["act_bits"])]
            out[f"timeline/precision_ep{index}"] = self._wandb.Table(
                columns=["action", "act_bits"], data=rows
            )
        return out

    def _timeline_plots(self, timeline: dict[str, list[Any]], index: int) -> dict[str, Any]:
        """Line plots over the episode's inference steps: latency, uplink, cut, precision."""
        plot = self._wandb.plot
        out: dict[str, Any] = {}
        steps = timeline.get("inference_step") or []
        series = {"inference_ms": "inference latency (ms)", "uplink_mbps": "uplink (Mbit/s)"}
        for column, title in series.items():
            values = timeline.get(column)
            if values and steps and all(v is not None for v in values):
                table = self._wandb.Table(columns=["step", column],
                                          data=[[k, v] for k, v in zip(steps, values)])  # fmt: skip
                out[f"timeline/{column}_ep{index}"] = plot.line(
                    table, "step", column, title=f"episode {index}: {title} per inference"
                )
        cuts = timeline.get("cut")
        if cuts and steps:
            names = sorted(set(cuts))  # one level per cut label, in name order (legend: the table)
            table = self._wandb.Table(columns=["step", "cut_level", "cut"],
                                      data=[[k, names.index(c), c] for k, c in zip(steps, cuts)])  # fmt: skip
            out[f"timeline/cut_ep{index}"] = plot.line(
                table, "step", "cut_level", title=f"episode {index}: cut ({', '.join(names)})"
            )
        bits = timeline.get("act_bits")
        if bits:
            table = self._wandb.Table(columns=["action", "act_bits"],
                                      data=[[k, b] for k, b in enumerate(bits)])  # fmt: skip
            out[f"timeline/act_bits_ep{index}"] = plot.line(
                table, "action", "act_bits", title=f"episode {index}: activation bits per action"
            )
        return out

    def log_summary(self, summary: dict[str, Any]) -> None:
        table = self._wandb.Table(
            columns=["suite", "task", "init_state", "seed", "success", "steps"], data=self._rows
        )
        # Not "episodes": that summary key holds the episode count below.
        self.run.log({"episodes_table": table})
        flat: dict[str, Any] = {
            "success_rate": summary["success_rate"],
            "success_ci95_low": summary["success_ci95"][0],
            "success_ci95_high": summary["success_ci95"][1],
            "episodes": summary["episodes"],
            "successes": summary["successes"],
        }
        for task, block in summary.get("per_task", {}).items():  # OpenVLA's LIBERO eval logs these
            flat[f"success_rate/{task}"] = block["success_rate"]
            flat[f"episodes/{task}"] = block["episodes"]
        for name, stats in summary.get("step_latency_ms", {}).items():
            for stat in ("mean", "p50", "p95"):
                flat[f"latency_ms/{name}_{stat}"] = stats[stat]
        facts = summary.get("inference", {})  # not durations: Mbit/s and shares of inferences
        for stat in ("mean", "p50", "p95"):
            if "uplink_mbps" in facts:
                flat[f"inference/uplink_mbps_{stat}"] = facts["uplink_mbps"][stat]
        for name in ("fallback_fraction", "aborted_fraction", "count", "cloud_fraction",
                     "bytes_up", "bytes_down", "round_trips_total"):  # fmt: skip
            if name in facts:
                flat[f"inference/{name}"] = facts[name]
        timed = summary.get("time_aware") or {}  # success under both step budgets (issue 21)
        for budget, block in (timed.get("budgets") or {}).items():
            if block is not None:
                flat[f"time_aware/success_{budget}"] = block["success_rate"]
        if timed:
            flat["time_aware/mean_time_to_success_s"] = timed["mean_time_to_success_s"]
        self.run.summary.update(flat)

    def log_files(self, files: dict[str, Path], checkpoint: Path | None = None) -> None:
        """One ``eval-results`` artifact: ``files`` (name -> path: results.json, episodes.jsonl,
        config.yaml) and, when given, the checkpoint directory under ``checkpoint/``."""
        artifact = self._wandb.Artifact(
            name=f"eval-results-{self.run.id}", type="eval-results",
            description="results.json, episodes.jsonl and the resolved config of this run",
        )  # fmt: skip
        for name, path in files.items():
            if Path(path).is_file():
                artifact.add_file(str(path), name=name)
        if checkpoint is not None and Path(checkpoint).is_dir():
            artifact.add_dir(str(checkpoint), name="checkpoint")
        self.run.log_artifact(artifact)

    def finish(self, failed: bool = False) -> None:
        """Close the run; ``failed`` marks it failed in W&B (exit code 1), not finished."""
        self.run.finish(exit_code=1 if failed else 0)

    def describe(self) -> str:
        if self.mode == "offline":
            return f"W&B offline run: {self.run_dir}  (upload: wandb sync {self.run_dir})"
        return f"W&B {self.mode} run: {getattr(self.run, 'url', None) or self.run_dir}"
