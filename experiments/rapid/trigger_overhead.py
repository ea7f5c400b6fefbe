"""Per-step cost of RapidTrigger.decide on the edge (O(window) numpy work on [25, 7] histories).

    python -m experiments.bench bench=rapid_trigger_overhead episodes=2

Times every ``decide`` call (perf_counter_ns) while replaying recorded expert kinematic streams,
single-threaded. Figures are wall time on this machine, inflated when other jobs share the CPU.
Old flags: --foo V -> foo=V, --out F.json -> out=DIR (writes DIR/overhead.json).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ecc.schedulers import StepContext
from experiments.rapid.kinematics import KinematicEpisode, collect_expert_episodes
from experiments.rapid.reporting import SETTING_NOTES, write_record
from experiments.rapid.scheduler_conf import scheduler_from_yaml


def measure_decide_overhead(
    trigger: Any, episodes: list[KinematicEpisode], repeats: int = 3, chunk_len: int = 8
) -> dict[str, float]:
    """Mean, p50, p99 and max of one ``decide`` call (microseconds) over all replayed steps."""
    samples: list[int] = []
    for _ in range(repeats):
        for ep in episodes:
            trigger.reset()
            queue = 0
            for step, info in enumerate(ep.infos):
                ctx = StepContext(step, queue, chunk_len, 1, False, {}, info)
                t0 = time.perf_counter_ns()
                d = trigger.decide(ctx)
                samples.append(time.perf_counter_ns() - t0)
                queue = chunk_len if d.infer else (0 if d.preempt else queue)
                queue = max(queue - 1, 0)
    us = np.asarray(samples, dtype=np.float64) / 1e3
    return {
        "mean_us": float(us.mean()),
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "max_us": float(us.max()),
        "calls": int(us.size),
        "control_step_ms": 50.0,
        "share_of_control_step_p99": float(np.percentile(us, 99) / 50_000.0),
    }


def run(cfg: DictConfig) -> float:
    """Time ``decide`` over expert streams; writes overhead.json; returns the p99 (us)."""
    eps = collect_expert_episodes(cfg.suite, cfg.tasks, cfg.episodes, progress=False)
    stats = measure_decide_overhead(scheduler_from_yaml(cfg.scheduler), eps, cfg.repeats)
    config = OmegaConf.to_container(cfg, resolve=True)
    write_record(Path(cfg.out) / "overhead.json", config, stats, [SETTING_NOTES["expert"]])
    print(
        f"RapidTrigger.decide: mean {stats['mean_us']:.1f} us, p50 {stats['p50_us']:.1f} us, "
        f"p99 {stats['p99_us']:.1f} us, max {stats['max_us']:.1f} us over {stats['calls']} calls "
        f"(p99 = {100 * stats['share_of_control_step_p99']:.3f}% of a 50 ms control step; "
        "shared CPU, inflated)"
    )
    return float(stats["p99_us"])


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("bench", "rapid_trigger_overhead")
