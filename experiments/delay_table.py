"""Success vs inference delay: executors x delays on the same paired episodes (issue 21 item 4).

    python -m experiments.table table=delay budget=quick      # vecc-table table=delay budget=quick

Every (executor, d) cell is one main-job run (``experiments.run.evaluate`` on a config composed
with Hydra) with ``runtime.latency=constant runtime.constant_ms=d * step_ms runtime.jitter=false``
in realtime mode, plus one blocking run (sync, the world waits) as the reference. Per cell:
success under the run's budget with a Wilson 95% interval, success under the world-step budget,
mean time to success (world s), actions executed, hold fraction, and exact McNemar p-values of
the paired episodes against sync at the same d and against blocking. Writes delay_table.md /
.csv / .png / .json into ``out``; nothing is written until every run finished.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from omegaconf import DictConfig

from core.jsonio import write_atomic
from core.provenance import provenance
from ecc.executors import EXECUTORS, SAMPLING_FAMILIES, RtcExecutor
from experiments.apps import as_args, compose_main
from experiments.config_checks import ConfigError
from experiments.figures import pyplot, save_figure
from experiments.results import read_episodes, wilson_interval
from experiments.run import evaluate
from experiments.tables import markdown_table, write_csv

log = logging.getLogger(__name__)

EXECUTOR_OPTIONS = (*EXECUTORS, "async_adaptive")  # conf/executor/*.yaml
SAMPLED = {"bid", "rtc"}  # executors that need a flow/diffusion policy
COLUMNS = ("executor", "d", "latency_ms", "episodes", "successes", "success_%", "ci95_%",
           "success_world_%", "time_to_success_s", "executed_actions", "hold_%",
           "p_vs_sync", "p_vs_blocking")  # fmt: skip


def mcnemar_exact(a: list[bool], b: list[bool]) -> float:
    """Two-sided exact McNemar p-value of paired outcomes (binomial test on the discordant pairs)."""
    if len(a) != len(b):
        raise ValueError(f"paired outcomes differ in length: {len(a)} vs {len(b)}")
    n10 = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    n01 = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    n = n10 + n01
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(n10, n01) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def run_overrides(a: SimpleNamespace, executor: str, d: int | None) -> list[str]:
    """Main-job overrides of one cell (``d`` None: the blocking reference)."""
    out = [
        f"policy={a.policy}", f"env={a.env}", f"executor={executor}",
        f"eval.init_states={a.init_states}",
        f"eval.max_tasks={'null' if a.max_tasks is None else a.max_tasks}",
        f"eval.budget={a.eval_budget}",
        f"eval.max_world_s={'null' if a.max_world_s is None else a.max_world_s}",
        "eval.progress=false", f"seed={a.seed}", f"logger={a.logger}",
        "runtime.latency=constant", "runtime.jitter=false",
        f"runtime.control_hz={1000.0 / a.step_ms}",
        f"runtime.mode={'blocking' if d is None else 'realtime'}",
        f"runtime.constant_ms={0.0 if d is None else d * a.step_ms}",
    ]  # fmt: skip
    return out + list(a.main_overrides)


def run_cell(a: SimpleNamespace, executor: str, d: int | None, run_dir: Path) -> Path:
    if (run_dir / "results.json").is_file() and a.reuse:
        return run_dir
    if run_dir.exists():  # episodes.jsonl appends: a stale run would be counted twice
        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    evaluate(compose_main(run_overrides(a, executor, d)), run_dir)
    log.info("%s d=%s: %.0f s", executor, d, time.perf_counter() - t0)
    return run_dir


def episodes_of(run_dir: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """(task, init_state) -> the episode's ``time_aware`` block (pairs the cells)."""
    return {(r["task"], int(r["init_state"])): r["extra"]["time_aware"]
            for r in read_episodes(run_dir / "episodes.jsonl")}  # fmt: skip


def cell_row(executor: str, d: int | None, eps: dict, sync: dict | None, block: dict,
             step_ms: float) -> dict[str, Any]:  # fmt: skip
    keys = sorted(eps)
    ok = [bool(eps[k]["success"]) for k in keys]
    n, k = len(ok), sum(ok)
    lo, hi = wilson_interval(k, n)
    times = [eps[x]["time_to_success_s"] for x in keys if eps[x]["time_to_success_s"] is not None]
    mean = lambda v: sum(v) / len(v) if v else math.nan  # noqa: E731

    def p_vs(ref: dict | None) -> float | None:
        if ref is None or ref is eps:
            return None
        return mcnemar_exact(ok, [bool(ref[x]["success"]) for x in keys])

    return {
        "executor": executor if d is not None else "blocking",
        "d": d if d is not None else 0,
        "latency_ms": (d or 0) * step_ms,
        "episodes": n,
        "successes": k,
        "success_%": 100.0 * k / n if n else math.nan,
        "ci95_%": f"[{100 * lo:.0f}, {100 * hi:.0f}]",
        "success_world_%": 100.0 * mean([float(eps[x]["success_world_steps"]) for x in keys]),
        "time_to_success_s": mean(times),
        "executed_actions": mean([eps[x]["executed_actions"] for x in keys]),
        "hold_%": 100.0 * mean([eps[x]["hold_fraction"] for x in keys]),
        "p_vs_sync": p_vs(sync),
        "p_vs_blocking": p_vs(block),
        "ci95_lo": lo,
        "ci95_hi": hi,
    }


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    block = next(r for r in rows if r["executor"] == "blocking")
    for axis in (ax,):
        axis.axhspan(100 * block["ci95_lo"], 100 * block["ci95_hi"], color="0.85",
                     label="blocking 95% CI")  # fmt: skip
    names = list(dict.fromkeys(r["executor"] for r in rows if r["executor"] != "blocking"))
    for i, name in enumerate(names):
        rs = [r for r in rows if r["executor"] == name]
        # dodged by a fraction of a step so equal cells (e.g. every executor at d >= H) stay visible
        ds = [r["d"] + 0.15 * (i - (len(names) - 1) / 2) for r in rs]
        ys = [r["success_%"] for r in rs]
        err = [[y - 100 * r["ci95_lo"] for y, r in zip(ys, rs, strict=True)],
               [100 * r["ci95_hi"] - y for y, r in zip(ys, rs, strict=True)]]  # fmt: skip
        ax.errorbar(ds, ys, yerr=err, marker="o", capsize=3, label=name)
        bx.plot(ds, [r["time_to_success_s"] for r in rs], marker="o", label=name)
    bx.axhline(block["time_to_success_s"], color="0.5", ls="--", label="blocking")
    ax.set(xlabel="delay d (control steps of 50 ms)", ylabel="success % (Wilson 95%)",
           ylim=(-5, 105))  # fmt: skip
    bx.set(xlabel="delay d (control steps of 50 ms)", ylabel="mean time to success (world s)")
    ax.legend(fontsize=7)
    bx.legend(fontsize=7)
    return save_figure(fig, path, title)


def run(cfg: DictConfig) -> dict[str, Any]:
    """The table app's entry (conf/table/delay.yaml): every cell, then md / csv / png / json."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    a = as_args(cfg, paths=("out",))
    bad = [e for e in a.executors if e not in EXECUTOR_OPTIONS]
    if bad:
        raise ConfigError(f"executors={bad} is not allowed; allowed: {', '.join(EXECUTOR_OPTIONS)}")
    if any(not isinstance(d, int) or d < 0 for d in a.delays):
        raise ConfigError(f"delays={a.delays} is not allowed; allowed: ints >= 0 (control steps)")
    family = str(a.policy).removesuffix("_tiny")
    skipped = [e for e in a.executors if e in SAMPLED and family not in SAMPLING_FAMILIES]
    if skipped:  # the executors refuse the family themselves; say so once, run the rest
        log.warning("policy=%s: %s skipped (%s)", a.policy, skipped, RtcExecutor().family_why())
    executors = [e for e in a.executors if e not in skipped]
    t_start = time.perf_counter()
    runs = a.out / "runs"
    block = episodes_of(run_cell(a, "sync", None, runs / "blocking"))
    cells: dict[tuple[str, int], dict] = {}
    for d in a.delays:
        for e in executors:
            cells[e, d] = episodes_of(run_cell(a, e, d, runs / f"{e}_d{d}"))
    rows = [cell_row("sync", None, block, None, block, a.step_ms)]
    for e in executors:
        rows += [cell_row(e, d, cells[e, d], cells.get(("sync", d)), block, a.step_ms)
                 for d in a.delays]  # fmt: skip
    elapsed = time.perf_counter() - t_start
    n = rows[0]["episodes"]
    title = (f"success vs delay ({a.policy}, {a.env}, {n} paired episodes per cell, "
             f"budget {a.eval_budget}, {a.mode})")  # fmt: skip
    md = [f"# {title}", "", markdown_table(rows, COLUMNS), "",
          ("d: delay in control steps (latency d x 50 ms, constant, no jitter); success under the "
          "run's budget, success_world under the suite world-step limit; p: exact McNemar on the "
          "paired episodes (vs sync at the same d, vs blocking)."),
          f"Wall time: {elapsed:.0f} s."]  # fmt: skip
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "delay_table.md").write_text("\n".join(md) + "\n")
    write_csv(a.out / "delay_table.csv", rows, COLUMNS)
    png = plot(rows, a.out / "delay_table.png", title)
    record = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
        "rows": rows,
        "skipped": skipped,
        "wall_s": elapsed,
        "provenance": provenance(),
    }
    write_atomic(a.out / "delay_table.json", json.loads(json.dumps(record, default=str)))
    print("\n".join(md))
    print(f"wrote {a.out}/delay_table.md, delay_table.csv, {png.name}, delay_table.json, runs/")
    return record


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("table", "delay")
