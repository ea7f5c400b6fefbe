"""Share of control steps RAPID's trigger marks redundant, per task type, beside the paper's 81-86%.

    python -m experiments.rapid.redundancy --suites object goal --episodes 3

Scripted-expert rollouts (no rendering); the trigger runs over each episode's kinematic stream with an
instant chunk queue of ``--chunk-len`` actions (no latency), so the figure is the trigger's own
redundancy. Writes redundancy.md/.csv, redundancy.json, a timeline PNG of one episode, and the
trigger's per-step overhead (RapidTrigger.decide, microseconds).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

from experiments.rapid.errors import RapidExperimentError
from experiments.rapid.kinematics import (
    KinematicEpisode,
    collect_expert_episodes,
    replay_trigger,
)
from experiments.rapid.reporting import SETTING_NOTES, write_record
from experiments.rapid.scheduler_conf import default_rapid_conf, describe, scheduler_from_yaml
from experiments.rapid.timeline import plot_timeline
from experiments.rapid.trigger_overhead import measure_decide_overhead
from experiments.tables import write_table

log = logging.getLogger(__name__)

# RAPID (arXiv 2603.07949): share of redundant steps per task type (%).
PAPER_REDUNDANCY: dict[str, float] = {"pick_place": 82.5, "drawer": 86.4, "peg_insertion": 81.2}

COLUMNS = (
    "task_type",
    "episodes",
    "steps",
    "redundant_pct",
    "redundant_pct_std",
    "inferences_per_ep",
    "preemptions_per_ep",
    "triggered_pct",
    "expert_success_pct",
    "paper_redundant_pct",
)


def _triggered(trace: list[dict[str, Any]]) -> int:
    return sum(1 for t in trace if t.get("reason") in ("critical", "critical_hold"))


def redundancy_rows(
    episodes: list[KinematicEpisode], trigger: Any, chunk_len: int
) -> tuple[list[dict[str, Any]], dict[tuple[str, int], Any]]:
    """One row per task type (steps-weighted share, std over episodes) plus an ``all`` row."""
    per_ep: dict[tuple[str, int], Any] = {}
    groups: dict[str, list[tuple[KinematicEpisode, Any]]] = {}
    for ep in episodes:
        r = replay_trigger(trigger, ep.infos, chunk_len)
        per_ep[(ep.task, ep.init_state)] = r
        groups.setdefault(ep.task_type, []).append((ep, r))
    groups["all"] = [pair for k in sorted(groups) for pair in groups[k]]
    rows = []
    for name, pairs in groups.items():
        steps = sum(r.steps for _, r in pairs)
        red = sum(r.redundant_fraction * r.steps for _, r in pairs)
        rows.append(
            {
                "task_type": name,
                "episodes": len(pairs),
                "steps": steps,
                "redundant_pct": 100.0 * red / steps,
                "redundant_pct_std": 100.0
                * float(np.std([r.redundant_fraction for _, r in pairs])),
                "inferences_per_ep": float(np.mean([r.inferences for _, r in pairs])),
                "preemptions_per_ep": float(np.mean([r.preemptions for _, r in pairs])),
                # steps the trigger itself asked for (critical + critical_hold), beyond chunk refills
                "triggered_pct": 100.0 * sum(_triggered(r.trace) for _, r in pairs) / max(steps, 1),
                "expert_success_pct": 100.0 * float(np.mean([ep.success for ep, _ in pairs])),
                "paper_redundant_pct": PAPER_REDUNDANCY.get(name),
            }
        )
    rows.append(
        {"task_type": "peg_insertion", "paper_redundant_pct": PAPER_REDUNDANCY["peg_insertion"]}
    )
    return rows, per_ep


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--suites", nargs="+", default=["object", "goal"])
    p.add_argument("--tasks", nargs="*", default=None, help="restrict to these task names")
    p.add_argument("--episodes", type=int, default=3, help="init states per task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-episode-steps", type=int, default=None)
    p.add_argument("--chunk-len", type=int, default=8)
    p.add_argument("--scheduler", default=str(default_rapid_conf()), help="RAPID YAML")
    p.add_argument("--timeline", default="goal:open_the_drawer", help="suite:task of the PNG")
    p.add_argument("--overhead-repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("outputs/rapid/redundancy"))
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    a = parse_args(argv)
    import envs

    episodes: list[KinematicEpisode] = []
    for suite in a.suites:
        tasks = (
            [t for t in envs.list_tasks(suite) if not a.tasks or t in a.tasks]
            if suite in envs.list_suites()
            else None
        )
        if tasks == []:
            continue
        episodes += collect_expert_episodes(
            suite, tasks, a.episodes, a.seed, a.max_episode_steps, not a.no_progress
        )
    if not episodes:
        allowed = {s: envs.list_tasks(s) for s in a.suites if s in envs.list_suites()}
        raise RapidExperimentError("tasks", a.tasks, f"task names of the chosen suites: {allowed}")
    trigger = scheduler_from_yaml(a.scheduler)
    rows, per_ep = redundancy_rows(episodes, trigger, a.chunk_len)
    notes = [
        SETTING_NOTES["expert"],
        SETTING_NOTES["thresholds"],
        SETTING_NOTES["peg"],
        (
            f"Redundant = the trigger neither infers nor preempts; chunk replay of {a.chunk_len} "
            f"actions alone caps it at {100 * (1 - 1 / a.chunk_len):.1f}%. Trigger: {a.scheduler}."
        ),
    ]
    md, csv = write_table(
        a.out,
        "redundancy",
        rows,
        COLUMNS,
        title="RAPID redundant steps per task type (%)",
        notes=notes,
    )
    suite, _, task = a.timeline.partition(":")
    pick = [ep for ep in episodes if ep.suite == suite and ep.task == task]
    if not pick:
        pick = collect_expert_episodes(suite, [task], 1, a.seed, a.max_episode_steps, False)
    ep = pick[0]
    r = replay_trigger(trigger, ep.infos, a.chunk_len)
    png = plot_timeline(
        r.trace, ep.infos, trigger.high, trigger.low, a.out / "timeline.png",
        f"RAPID trigger over {suite}/{task} init {ep.init_state} (scripted expert; "
        f"redundant {100 * r.redundant_fraction:.1f}%)",
    )  # fmt: skip
    overhead = measure_decide_overhead(
        scheduler_from_yaml(a.scheduler), episodes, a.overhead_repeats
    )
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()}
    config["scheduler_fields"] = describe(a.scheduler)
    write_record(
        a.out / "redundancy.json",
        config,
        {
            "rows": rows,
            "decide_overhead": overhead,
            "per_episode": [
                {
                    "task": k[0],
                    "init_state": k[1],
                    "redundant_fraction": v.redundant_fraction,
                    "inferences": v.inferences,
                    "preemptions": v.preemptions,
                    "steps": v.steps,
                }
                for k, v in per_ep.items()
            ],
        },
        notes,
    )
    print(md.read_text())
    print(
        f"RapidTrigger.decide overhead: mean {overhead['mean_us']:.1f} us, p99 {overhead['p99_us']:.1f} us "
        f"per control step over {overhead['calls']} calls (shared CPU, inflated)"
    )
    print(f"wrote {md}, {csv}, {png}, {a.out / 'redundancy.json'}")
    return rows


if __name__ == "__main__":
    main()
