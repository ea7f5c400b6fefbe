"""Planner speed and exactness (acceptance 1 and 4).

    vecc-bench bench=planner_speed [cases=1000] [repeats=50]

Fields: conf/bench/planner_speed.yaml.

Prints: (1) RoboECC static search vs the exhaustive reference walk on random cases;
(4) time to evaluate every cut of OpenVLA-7B at sub-layer granularity (from scratch and
with the per-trace traffic table cached) and to sweep 10,000 network conditions.
Single-threaded; timings on a shared machine are inflated by other load.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch

from ecc.cuts import _CACHE, _versions, cut_costs
from ecc.evaluation import static_exactness
from ecc.hardware import load_profile
from ecc.network.link import LinkState
from ecc.planners.base import best_cut
from ecc.trace import build_trace
from experiments.apps import as_args


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def run(cfg: Any) -> None:
    """The bench app's entry (conf/bench/planner_speed.yaml): print exactness and speed."""
    args = as_args(cfg)
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    rep = static_exactness(args.cases, seed=0)
    dt = time.perf_counter() - t0
    print(f"[1] static exactness: {rep.matches}/{rep.cases} equal to the exhaustive optimum, "
          f"{rep.infeasible} infeasible in both, {len(rep.mismatches)} mismatches ({dt:.1f} s) "
          f"-> {'PASS' if rep.ok else 'FAIL'}")  # fmt: skip
    for m in rep.mismatches[:5]:
        print("    mismatch:", m)

    trace = build_trace("openvla-7b", granularity="sublayer")
    edge, cloud = load_profile("orin_agx_64gb"), load_profile("a100_80gb")
    link = LinkState(20, 80, 10)
    feas_dummy = np.ones(trace.n_cuts, dtype=bool)

    def from_scratch() -> int:
        _CACHE.clear()  # per-cut tables rebuilt; the trace's tensor-version index is kept
        c = cut_costs(trace, edge, cloud, "bf16")
        return best_cut(c.latency_ms(link), feas_dummy, c.cloud_flops_frac)

    def build() -> None:
        t = build_trace("openvla-7b", granularity="sublayer")
        _versions(t, True, -1)

    costs = cut_costs(trace, edge, cloud, "bf16")

    def per_link() -> int:
        return best_cut(costs.latency_ms(link), feas_dummy, costs.cloud_flops_frac)

    ms_scratch = _median_ms(from_scratch, args.repeats)
    ms_link = _median_ms(per_link, args.repeats * 10)
    ms_build = _median_ms(build, 5)
    print(f"[4] OpenVLA-7B sub-layer: {len(trace.stages)} stages, {trace.n_cuts} cuts")
    print(
        f"    trace construction incl. tensor-version index (once per architecture): {ms_build:.1f} ms"
    )
    print(f"    all cuts, given the trace (roofline both devices, traffic intervals, prefix sums, argmin): {ms_scratch:.2f} ms "
          f"-> {'PASS' if ms_scratch < 5 else 'FAIL'} (< 5 ms)")  # fmt: skip
    print(
        f"    all cuts, traffic table cached (new link or budgets):                    {ms_link:.3f} ms"
    )

    rng = np.random.default_rng(0)
    n = args.conditions
    up = np.exp(rng.uniform(np.log(1), np.log(1000), n))
    down = up * np.exp(rng.uniform(0, 2, n))
    delay = rng.uniform(0, 100, n)

    def sweep() -> np.ndarray:
        _CACHE.clear()
        c = cut_costs(trace, edge, cloud, "bf16")
        return c.latency_grid_ms(up, down, delay).argmin(axis=1)

    ms_sweep = _median_ms(sweep, 5)
    best = sweep()
    print(f"    sweep of {n} network conditions x {trace.n_cuts} cuts: {ms_sweep:.1f} ms "
          f"-> {'PASS' if ms_sweep < 2000 else 'FAIL'} (< 2 s); distinct optimal cuts: "
          f"{sorted({trace.cut_name(int(k)) for k in np.unique(best)})}")  # fmt: skip


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("bench", "planner_speed")
