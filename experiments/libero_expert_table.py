"""Scripted-expert success on the rebuilt LIBERO suites (envs/libero), per task.

    nice -n 10 python -m experiments.libero_expert_table libero_spatial [n_init] [task_index ...]

The expert is envs.libero.expert.LiberoExpert (envs.experts.ScriptedExpert with the drawer
and rim grasps of envs.libero.expert.grasp_for) reading PRIVILEGED simulator state through
envs.libero.expert (scene_fn, expert_goal). Each task runs LIBERO's init states 0..n_init-1
(default 50) with clean actions, render=False, the suite's episode limit. Prints progress and
one row per task: successes / episodes, rate, mean steps, the last expert phases of failures.
Tasks whose goal the expert cannot translate yet (drawers, knob, door, fixture regions) print
"no expert" and count as 0. Exit status 1 if any task is below 95 %.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "1")

from core.errors import VeccError, not_allowed
from envs.libero.expert import LiberoExpert, expert_goal
from envs.libero.files import SUITES, task_names
from envs.libero.make import make_libero_env

THRESHOLD = 0.95


def run_task(suite: str, task: str, n_init: int) -> tuple[int, int, float, Counter]:
    """(successes, episodes, mean steps, failure phases) of the expert on one task."""
    env = make_libero_env(suite, task, render=False)
    fails: Counter = Counter()
    ok, steps_total = 0, 0
    try:
        try:
            goal = expert_goal(env)
        except VeccError as e:
            fails[f"no expert: {e}"] += n_init
            return 0, n_init, 0.0, fails
        for i in range(n_init):
            obs, _ = env.reset(options={"init_state": i})
            expert = LiberoExpert()
            expert.reset(env, goal=goal)
            terminated = truncated = False
            steps = 0
            while not (terminated or truncated):
                obs, _, terminated, truncated, info = env.step(expert.act(obs))
                steps += 1
            success = bool(info.get("is_success", terminated))
            ok += success
            steps_total += steps
            if not success:
                fails[expert.phase] += 1
    finally:
        env.close()
    return ok, n_init, steps_total / max(n_init, 1), fails


def main(argv: list[str]) -> int:
    """CLI entry: suite, optional number of init states, optional task indices."""
    if not argv or argv[0] not in SUITES:
        raise SystemExit(not_allowed("suite", argv[0] if argv else None, SUITES))
    suite = argv[0]
    n_init = int(argv[1]) if len(argv) > 1 else 50
    names = task_names(suite)
    picks = [int(x) for x in argv[2:]] or list(range(len(names)))
    print(f"{suite}: {len(picks)} tasks x {n_init} init states, load {os.getloadavg()}", flush=True)
    rows, t0 = [], time.perf_counter()
    for k in picks:
        ok, n, mean_steps, fails = run_task(suite, names[k], n_init)
        rows.append((k, names[k], ok, n, mean_steps, fails))
        print(
            f"  [{len(rows)}/{len(picks)}] task {k}: {ok}/{n} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    print(
        "| # | task | success | rate | mean steps | failures (last phase) |\n|---|---|---|---|---|---|"
    )
    for k, name, ok, n, mean_steps, fails in rows:
        why = ", ".join(f"{p} x{c}" for p, c in fails.most_common()) or "-"
        print(f"| {k} | {name} | {ok} / {n} | {ok / n:.0%} | {mean_steps:.0f} | {why} |")
    total_ok, total_n = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"total {total_ok} / {total_n}; load {os.getloadavg()}")
    return 0 if all(r[2] / r[3] >= THRESHOLD for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
