"""Wall time of one evaluation run sequentially (eval.workers=1) and in parallel (issue 24 acc. 1).

Runs the main job twice as a user runs it (one subprocess each, one after the other, same
overrides), prints both wall times (s), the ratio parallel / sequential, the load average and
whether every episode's task, init state, seed, success, steps and world time are identical.

    python -m experiments.benchmarks.parallel_eval --workers 2 -- eval.max_tasks=2 eval.init_states=3
    python -m experiments.benchmarks.parallel_eval -- eval.max_tasks=null eval.init_states=50  # acc. 1

Overrides after ``--`` go to both runs; ``runtime.mode=blocking logger=none`` are always added.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAME = ("task", "init_state", "seed", "success", "steps", "sim_time_s")


def _run(run_dir: Path, workers: int, overrides: list[str]) -> float:
    """Run the main job into ``run_dir``; return its wall time (s)."""
    args = [sys.executable, "-m", "experiments.run", f"hydra.run.dir={run_dir}",
            "runtime.mode=blocking", "logger=none", "eval.progress=false",
            f"eval.workers={workers}", *overrides]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"run with eval.workers={workers} failed:\n{proc.stderr[-3000:]}")
    return wall


def _rows(run_dir: Path) -> list[dict]:
    lines = (run_dir / "episodes.jsonl").read_text().splitlines()
    return [{k: json.loads(x)[k] for k in SAME} for x in lines]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("overrides", nargs="*", help="main-job overrides for both runs")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="parallel_eval_") as tmp:
        load0 = os.getloadavg()
        seq = _run(Path(tmp) / "seq", 1, a.overrides)
        par = _run(Path(tmp) / "par", a.workers, a.overrides)
        load1 = os.getloadavg()
        a_rows, b_rows = _rows(Path(tmp) / "seq"), _rows(Path(tmp) / "par")
    same = a_rows == b_rows
    print(f"episodes: {len(a_rows)}  workers: {a.workers}  cores: {os.cpu_count()}")
    print(f"load average (1/5/15 min) before: {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}  "
          f"after: {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f}")  # fmt: skip
    print(f"sequential wall: {seq:.1f} s  parallel wall: {par:.1f} s  ratio: {par / seq:.3f}")
    print(f"per-episode rows identical ({', '.join(SAME)}): {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
