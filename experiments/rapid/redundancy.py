"""Share of control steps RAPID's trigger marks redundant, per task type, beside the paper's 81-86%.

    python -m experiments.study study=rapid_redundancy suites=[object,goal] episodes=3

Scripted-expert rollouts (no rendering); the trigger runs over each episode's kinematic stream with an
instant chunk queue of ``--chunk-len`` actions (no latency), so the figure is the trigger's own
redundancy. Writes redundancy.md/.csv, redundancy.json, a timeline PNG of one episode, and the
trigger's per-step overhead (RapidTrigger.decide, microseconds). Task types are the suites' task
categories (``TaskSpec.category``). Old flags: --suites a b -> suites=[a,b], --foo-bar V -> foo_bar=V,
--scheduler -> scheduler (a group option or a YAML path), --no-progress -> progress=false.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

import envs
from ecc.schedulers import replay_trigger
from experiments.rapid.errors import RapidExperimentError
from experiments.rapid.kinematics import KinematicEpisode, collect_expert_episodes
from experiments.rapid.reporting import SETTING_NOTES, write_record
from experiments.rapid.scheduler_conf import describe, scheduler_from_yaml
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
        groups.setdefault(ep.category, []).append((ep, r))
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


def run(cfg: DictConfig) -> list[dict[str, Any]]:
    """Expert streams of every suite, the trigger replayed over them; table, timeline, overhead."""
    out = Path(cfg.out)
    episodes: list[KinematicEpisode] = []
    for suite in cfg.suites:
        known = envs.list_tasks(suite) if suite in envs.list_suites() else None
        tasks = [t for t in known if not cfg.tasks or t in cfg.tasks] if known else None
        if tasks == []:
            continue
        episodes += collect_expert_episodes(
            suite, tasks, cfg.episodes, cfg.seed, cfg.max_episode_steps, cfg.progress
        )
    if not episodes:
        allowed = {s: envs.list_tasks(s) for s in cfg.suites if s in envs.list_suites()}
        raise RapidExperimentError(
            "tasks", cfg.tasks, f"task names of the chosen suites: {allowed}"
        )
    trigger = scheduler_from_yaml(cfg.scheduler)
    rows, per_ep = redundancy_rows(episodes, trigger, cfg.chunk_len)
    notes = [
        SETTING_NOTES["expert"],
        SETTING_NOTES["thresholds"],
        SETTING_NOTES["peg"],
        (
            f"Redundant = the trigger neither infers nor preempts; chunk replay of {cfg.chunk_len} "
            f"actions alone caps it at {100 * (1 - 1 / cfg.chunk_len):.1f}%. Trigger: {cfg.scheduler}."
        ),
    ]
    title = "RAPID redundant steps per task type (%)"
    md, csv = write_table(out, "redundancy", rows, COLUMNS, title=title, notes=notes)
    suite, _, task = str(cfg.timeline).partition(":")
    pick = [ep for ep in episodes if ep.suite == suite and ep.task == task]
    if not pick:
        pick = collect_expert_episodes(suite, [task], 1, cfg.seed, cfg.max_episode_steps, False)
    ep = pick[0]
    r = replay_trigger(trigger, ep.infos, cfg.chunk_len)
    png = plot_timeline(
        r.trace, ep.infos, trigger.high, trigger.low, out / "timeline.png",
        f"RAPID trigger over {suite}/{task} init {ep.init_state} (scripted expert; "
        f"redundant {100 * r.redundant_fraction:.1f}%)",
    )  # fmt: skip
    overhead = measure_decide_overhead(
        scheduler_from_yaml(cfg.scheduler), episodes, cfg.overhead_repeats
    )
    config = OmegaConf.to_container(cfg, resolve=True)
    config["scheduler_fields"] = describe(cfg.scheduler)
    per_episode = [
        {"task": k[0], "init_state": k[1], "redundant_fraction": v.redundant_fraction,
         "inferences": v.inferences, "preemptions": v.preemptions, "steps": v.steps}
        for k, v in per_ep.items()
    ]  # fmt: skip
    results = {"rows": rows, "decide_overhead": overhead, "per_episode": per_episode}
    write_record(out / "redundancy.json", config, results, notes)
    print(md.read_text())
    print(
        f"RapidTrigger.decide overhead: mean {overhead['mean_us']:.1f} us, p99 {overhead['p99_us']:.1f} us "
        f"per control step over {overhead['calls']} calls (shared CPU, inflated)"
    )
    print(f"wrote {md}, {csv}, {png}, {out / 'redundancy.json'}")
    return rows


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("study", "rapid_redundancy")
