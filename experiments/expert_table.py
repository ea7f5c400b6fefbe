"""Scripted-expert success table: every init state of every task, one command.

    vecc-study study=expert_table                         # all suites, 50 init states, 2 workers
    python -m experiments.study study=expert_table suites=[object] workers=1

Fields: conf/study/expert_table.yaml (the old flags map there: --n-init 5 -> n_init=5).
Writes docs/expert_table.md and docs/expert_table.csv (per task: successes/N, rate,
mean episode steps) and exits with status 1 if any task is below ``threshold``.
The expert reads privileged simulator state (see envs.experts.ScriptedExpert).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")
# Each worker simulates one env; extra BLAS/llvmpipe threads only fight the other worker.
os.environ.setdefault("LP_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tqdm import tqdm

from core.errors import not_allowed
from core.provenance import provenance
from experiments.apps import as_args

log = logging.getLogger("experiments.expert_table")

N_INIT_STATES = 50


@dataclass(frozen=True)
class EpisodeRow:
    """One expert episode: outcome, length (control steps), last expert phase, wall time (s)."""

    suite: str
    task: str
    init_state: int
    success: bool
    steps: int
    phase: str
    wall_s: float


def run_chunk(
    suite: str, task: str, init_states: Sequence[int], seed: int, noise: float
) -> list[EpisodeRow]:
    """Run the expert on ``init_states`` of one task in a fresh env (called in a worker)."""
    # lazy: envs loads robosuite (~1 s); each worker process imports it for itself
    import envs
    from envs.experts import ExpertConfig, ScriptedExpert
    from envs.experts.rollout import run_episode

    env = envs.make_env(suite, task, render=False, seed=seed)
    limit = envs.episode_limit(suite)
    rows = []
    try:
        for i in init_states:
            expert = ScriptedExpert(ExpertConfig(noise_std=noise, noise_seed=seed * 1000 + i))
            ep = run_episode(env, expert, seed=seed, init_state=i, max_steps=limit)
            rows.append(EpisodeRow(suite, task, i, ep.success, ep.steps, ep.final_phase, ep.wall_s))
    finally:
        env.close()
    return rows


@dataclass(frozen=True)
class TaskSummary:
    """Per-task aggregate: successes out of episodes, rate, mean steps (all / successful)."""

    suite: str
    task: str
    successes: int
    episodes: int
    mean_steps: float
    mean_steps_success: float
    failed_init_states: tuple[int, ...]
    failed_phases: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.successes / max(self.episodes, 1)


def summarize(rows: Sequence[EpisodeRow]) -> list[TaskSummary]:
    """Group episode rows by (suite, task), keeping input order of first appearance."""
    groups: dict[tuple[str, str], list[EpisodeRow]] = {}
    for r in rows:
        groups.setdefault((r.suite, r.task), []).append(r)
    out = []
    for (suite, task), rs in groups.items():
        rs = sorted(rs, key=lambda r: r.init_state)
        ok = [r for r in rs if r.success]
        fails = [r for r in rs if not r.success]
        out.append(
            TaskSummary(
                suite=suite,
                task=task,
                successes=len(ok),
                episodes=len(rs),
                mean_steps=sum(r.steps for r in rs) / len(rs),
                mean_steps_success=(sum(r.steps for r in ok) / len(ok)) if ok else float("nan"),
                failed_init_states=tuple(r.init_state for r in fails),
                failed_phases=tuple(r.phase for r in fails),
            )
        )
    return out


def _header(args: SimpleNamespace, elapsed_s: float, prov: dict) -> dict:
    """Table header; ``prov`` is taken when the run starts (the code that ran)."""
    # lazy: envs loads robosuite (~1 s); imported only when episodes run, so --help stays fast
    from envs.experts import ExpertConfig

    return {
        "generated_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "command": "vecc-study study=expert_table " + " ".join(sys.argv[1:]),
        "git": prov["git"],
        "versions": prov["versions"],
        "seed": args.seed,
        "noise_std": args.noise,
        "init_states": args.n_init,
        "threshold": args.threshold,
        "elapsed_s": round(elapsed_s, 1),
        "workers": args.workers,
        "expert_config": {k: v for k, v in ExpertConfig().as_dict().items() if k != "extra"},
    }


def write_markdown(path: Path, summaries: Sequence[TaskSummary], header: dict) -> None:
    """Human-readable table with a provenance header."""
    lines = [
        "# Scripted expert success table",
        "",
        "Generated by `" + header["command"] + "` (regenerate with the same command).",
        "The expert reads privileged simulator state (object poses, sizes, fixture sites);",
        "it is a demonstrator, not a policy. Episode limits are the suite limits of `envs.episode_limit`.",
        "",
        f"- generated (UTC): {header['generated_utc']}",
        f"- git commit: `{header['git'].get('commit')}` (dirty: {header['git'].get('dirty')})",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in header["versions"].items() if v),
        f"- seed: {header['seed']}, action noise std: {header['noise_std']}, init states per task: {header['init_states']}",
        f"- pass threshold: {header['threshold']:.0%} per task; wall time {header['elapsed_s']} s with {header['workers']} worker(s) on a shared CPU",
        "",
        "| suite | task | successes | rate | mean steps | mean steps (success) | failed init states |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        failed = (
            ", ".join(f"{i} ({p})" for i, p in zip(s.failed_init_states, s.failed_phases)) or "-"
        )
        lines.append(
            f"| {s.suite} | {s.task} | {s.successes}/{s.episodes} | {s.rate:.0%} | {s.mean_steps:.1f} "
            f"| {s.mean_steps_success:.1f} | {failed} |"
        )
    by_suite: dict[str, list[TaskSummary]] = {}
    for s in summaries:
        by_suite.setdefault(s.suite, []).append(s)
    lines += ["", "| suite | successes | rate | worst task |", "|---|---|---|---|"]
    for suite, ss in by_suite.items():
        ok = sum(s.successes for s in ss)
        n = sum(s.episodes for s in ss)
        worst = min(ss, key=lambda s: s.rate)
        lines.append(f"| {suite} | {ok}/{n} | {ok / n:.1%} | {worst.task} ({worst.rate:.0%}) |")
    lines += [
        "",
        "Expert configuration:",
        "",
        "```json",
        json.dumps(header["expert_config"], indent=1),
        "```",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def write_csv(path: Path, summaries: Sequence[TaskSummary], header: dict) -> None:
    """Machine-readable per-task table; provenance in leading '#' comment lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        f.write(
            f"# git_commit={header['git'].get('commit')} seed={header['seed']} "
            f"noise_std={header['noise_std']} generated_utc={header['generated_utc']}\n"
        )
        w = csv.writer(f)
        w.writerow(
            [
                "suite",
                "task",
                "successes",
                "episodes",
                "rate",
                "mean_steps",
                "mean_steps_success",
                "failed_init_states",
            ]
        )
        for s in summaries:
            w.writerow(
                [
                    s.suite,
                    s.task,
                    s.successes,
                    s.episodes,
                    f"{s.rate:.4f}",
                    f"{s.mean_steps:.2f}",
                    f"{s.mean_steps_success:.2f}",
                    " ".join(map(str, s.failed_init_states)),
                ]
            )


def check_args(args: SimpleNamespace) -> SimpleNamespace:
    """Reject out-of-range fields, naming the field, the value and the allowed values."""
    if not 1 <= args.n_init <= N_INIT_STATES:
        raise ValueError(not_allowed("n_init", args.n_init, f"1..{N_INIT_STATES}"))
    for name in ("workers", "chunk"):
        if getattr(args, name) < 1:
            raise ValueError(not_allowed(name, getattr(args, name), ">= 1"))
    if not 0.0 <= args.threshold <= 1.0:
        raise ValueError(not_allowed("threshold", args.threshold, "[0, 1]"))
    return args


def select_tasks(suites_arg: str, tasks_arg: str) -> list[tuple[str, str]]:
    """(suite, task) pairs named on the command line; raises ValueError on unknown names."""
    # lazy: envs loads robosuite (~1 s); imported only when episodes run, so --help stays fast
    import envs

    suites = (
        envs.list_suites() if suites_arg == "all" else [s.strip() for s in suites_arg.split(",")]
    )
    pairs = []
    for suite in suites:
        if suite not in envs.list_suites():
            raise ValueError(not_allowed("suites", suite, envs.list_suites()))
        available = list(envs.list_tasks(suite))
        wanted = available if tasks_arg == "all" else [t.strip() for t in tasks_arg.split(",")]
        chosen = [t for t in wanted if t in available]
        if tasks_arg != "all" and len(suites) == 1 and len(chosen) != len(wanted):
            bad = sorted(set(wanted) - set(available))
            raise ValueError(
                f"tasks: {bad} is not allowed in suite {suite!r}; allowed: {available}"
            )
        pairs += [(suite, t) for t in chosen]
    if not pairs:
        raise ValueError(f"no task matched suites={suites_arg!r} tasks={tasks_arg!r}")
    return pairs


def run(cfg: Any) -> int:
    """The study app's entry (conf/study/expert_table.yaml); 1 if any task is below threshold."""
    args = as_args(cfg, paths=("out_md", "out_csv"))
    for name in ("suites", "tasks"):  # a YAML list, or "all"
        if not isinstance(getattr(args, name), str):
            setattr(args, name, ",".join(getattr(args, name)))
    return table(check_args(args))


def table(args: SimpleNamespace) -> int:
    """Run the episodes ``args`` asks for and write both tables; 1 if any task is below threshold."""
    logging.basicConfig(level=logging.WARNING)
    pairs = select_tasks(args.suites, args.tasks)
    jobs = [
        (suite, task, list(range(lo, min(lo + args.chunk, args.n_init))), args.seed, args.noise)
        for suite, task in pairs
        for lo in range(0, args.n_init, args.chunk)
    ]
    prov = provenance()  # before the run: the commit whose code the workers import
    t0 = time.perf_counter()
    rows: list[EpisodeRow] = []
    bar = tqdm(total=len(pairs) * args.n_init, desc="expert episodes", unit="ep")
    if args.workers == 1:
        for job in jobs:
            rows += run_chunk(*job)
            bar.update(len(job[2]))
    else:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            futures = [pool.submit(run_chunk, *job) for job in jobs]
            for fut in as_completed(futures):
                got = fut.result()
                rows += got
                bar.update(len(got))
                bar.set_postfix(success=f"{sum(r.success for r in rows)}/{len(rows)}")
    bar.close()
    order = {pair: i for i, pair in enumerate(pairs)}
    rows.sort(key=lambda r: (order[(r.suite, r.task)], r.init_state))
    summaries = summarize(rows)
    header = _header(args, time.perf_counter() - t0, prov)
    write_markdown(args.out_md, summaries, header)
    write_csv(args.out_csv, summaries, header)
    print(f"{'suite':8s} {'task':40s} {'succ':>7s} {'rate':>6s} {'steps':>7s}")
    for s in summaries:
        print(
            f"{s.suite:8s} {s.task:40s} {s.successes:>3d}/{s.episodes:<3d} {s.rate:6.0%} {s.mean_steps:7.1f}"
        )
    below = [s for s in summaries if s.rate < args.threshold]
    print(
        f"wrote {args.out_md} and {args.out_csv}; {len(below)} task(s) below {args.threshold:.0%}"
    )
    return 1 if below else 0


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("study", "expert_table")
