"""Checks of the planners on random cases and bandwidth traces (acceptance 1 and 2).

``random_case`` draws a small random architecture, a hardware pair (a catalogued profile
with its numbers jittered), a link, direction, I/O convention and budgets;
``static_exactness`` compares RoboECC's prefix-sum search with the exhaustive reference
walk on many such cases. ``adaptive_comparison`` runs RoboECC, the oracle and every
static cut on a bandwidth trace.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from agents.shapes import ActionHeadShape, DecoderShape, ProjectorShape, ViTShape, VLAShape
from ecc.adaptive import simulate_adaptive, static_cut_means
from ecc.errors import InfeasiblePlanError
from ecc.hardware import HardwareProfile, load_profile
from ecc.network.link import LinkState
from ecc.network.traces import BandwidthTrace
from ecc.planners.base import PlanContext
from ecc.planners.oracle import OraclePlanner, exhaustive_optimum
from ecc.planners.roboecc import RoboECCPlanner
from ecc.trace import build_trace

EDGE_PROFILES = ("orin_agx_64gb", "orin_nx_16gb", "orin_nano_8gb", "thor")
CLOUD_PROFILES = ("a100_80gb", "h100_sxm", "l4", "rtx_4090")


def random_shape(rng: np.random.Generator) -> VLAShape:
    """A small random VLA of a random family (sizes drawn so the trace stays short)."""
    fam = str(rng.choice(["openvla", "oft", "pi0", "cogact"]))
    r = lambda lo, hi: int(rng.integers(lo, hi + 1))  # noqa: E731
    towers = tuple(
        ViTShape(f"t{i}", 16 * r(1, 4), 8, 32 * r(1, 8), r(1, 3), 4, 64 * r(1, 8))
        for i in range(r(1, 2))
    )
    towers = tuple(replace(t, image_size=towers[0].image_size) for t in towers)
    hid = 64 * r(1, 16)
    llm = DecoderShape(hid, r(1, 4), 4, int(rng.choice([1, 2, 4])), 4 * hid, vocab_size=r(50, 5000))
    head = {
        "openvla": ActionHeadShape("ar_tokens", action_dim=r(1, 7)),
        "oft": ActionHeadShape("l1_chunk", action_dim=7, chunk=r(1, 8)),
        "pi0": ActionHeadShape("flow_expert", action_dim=7, chunk=r(1, 16), steps=r(1, 4),
                               expert=DecoderShape(64 * r(1, 4), llm.layers, 4, 1, 256)),
        "cogact": ActionHeadShape("dit", action_dim=7, chunk=r(1, 16), steps=r(1, 4),
                                  expert=DecoderShape(64 * r(1, 4), r(1, 3), 4, 4, 256)),
    }[fam]  # fmt: skip
    return VLAShape(f"rand-{fam}", fam, towers, ProjectorShape(sum(t.hidden for t in towers), 2 * hid, hid, r(1, 3)),
                    llm, head, prompt_tokens=r(0, 16), cameras=r(1, 2))  # fmt: skip


def _jitter(hw: HardwareProfile, rng: np.random.Generator) -> HardwareProfile:
    f = lambda: float(np.exp(rng.normal(0, 0.5)))  # noqa: E731
    return replace(hw, peak_tflops={k: v * f() for k, v in hw.peak_tflops.items()},
                   mem_bandwidth_gbps=hw.mem_bandwidth_gbps * f(), kernel_overhead_us=hw.kernel_overhead_us * f())  # fmt: skip


def random_case(rng: np.random.Generator) -> tuple[PlanContext, LinkState]:
    """One random (architecture, hardware pair, link, direction, budgets) case."""
    tr = build_trace(random_shape(rng), granularity=str(rng.choice(["block", "sublayer"])))
    edge = _jitter(load_profile(str(rng.choice(EDGE_PROFILES))), rng)
    cloud = _jitter(load_profile(str(rng.choice(CLOUD_PROFILES))), rng)
    up = float(np.exp(rng.uniform(np.log(0.1), np.log(1000))))
    link = LinkState(up, up * float(np.exp(rng.uniform(0, 2))), float(rng.uniform(0, 100)),
                     float(rng.uniform(0, 5)), float(rng.choice([0.0, 0.01])))  # fmt: skip
    ctx = PlanContext(tr, edge, cloud, str(rng.choice(["bf16", "int8", "int4", "fp32"])),
                      str(rng.choice(["edge_prefix", "cloud_prefix"])), bool(rng.integers(2)),
                      max_cloud_load=float(rng.choice([1.0, rng.uniform(0.2, 1.0)])))  # fmt: skip
    if rng.random() < 0.3:  # a binding edge-memory budget
        ctx.edge_mem_budget_bytes = float(rng.uniform(0.2, 1.0) * ctx.costs.edge_mem_bytes.max())
    return ctx, link


@dataclass
class ExactnessReport:
    cases: int
    matches: int
    infeasible: int
    mismatches: list

    @property
    def ok(self) -> bool:
        return self.matches + self.infeasible == self.cases


def static_exactness(n_cases: int = 1000, seed: int = 0) -> ExactnessReport:
    """RoboECC static search vs exhaustive reference walk on ``n_cases`` random cases."""
    rng = np.random.default_rng(seed)
    planner = RoboECCPlanner()
    matches = infeasible = 0
    bad = []
    for i in range(n_cases):
        ctx, link = random_case(rng)
        try:
            k_ex, ms_ex = exhaustive_optimum(ctx, link)
        except InfeasiblePlanError:
            try:
                planner.plan(ctx, link)
                bad.append((i, "planner found a plan where exhaustive found none"))
            except InfeasiblePlanError:
                infeasible += 1
            continue
        p = planner.plan(ctx, link)
        if p.cut == k_ex and np.isclose(p.predicted_ms, ms_ex, rtol=1e-9):
            matches += 1
        else:
            bad.append((i, p.cut, k_ex, p.predicted_ms, ms_ex))
    return ExactnessReport(n_cases, matches, infeasible, bad)


@dataclass
class AdaptiveReport:
    roboecc_ms: float
    oracle_ms: float
    best_static_ms: float
    best_static_cut: str
    overhead_pct: float
    switches: int
    pool_cuts: list
    pool_memory_bytes: float
    probe_bytes: int
    aborted: int = 0  # generations finished on the edge by the deadline fallback
    best_static_fallback_ms: float | None = None  # best fixed cut given the same fallback

    @property
    def vs_oracle(self) -> float:
        return self.roboecc_ms / self.oracle_ms - 1

    @property
    def vs_static(self) -> float:
        return 1 - self.roboecc_ms / self.best_static_ms

    @property
    def vs_static_fallback(self) -> float | None:
        if self.best_static_fallback_ms is None:
            return None
        return 1 - self.roboecc_ms / self.best_static_fallback_ms


def adaptive_comparison(
    ctx: PlanContext,
    trace: BandwidthTrace,
    link: LinkState,
    n_actions: int = 300,
    gap_ms: float = 400.0,
    planner: RoboECCPlanner | None = None,
    seed: int = 0,
) -> AdaptiveReport:
    """RoboECC adaptive vs oracle vs the best static cut (hindsight) on ``trace``.

    With the planner's deadline fallback on, the best static cut is also reported with the same
    fallback (``best_static_fallback_ms``): the plain best static cut is the issue's baseline, the
    other separates what adaptation adds from what the fallback alone gives.
    """
    planner = planner or RoboECCPlanner()
    r = simulate_adaptive(ctx, planner, trace, link, n_actions, gap_ms, seed=seed)
    o = simulate_adaptive(ctx, OraclePlanner(), trace, link, n_actions, gap_ms, seed=seed)
    feasible = ctx.feasible()
    st = np.where(feasible, static_cut_means(ctx, trace, link, n_actions, gap_ms), np.inf)
    b = int(st.argmin())
    st_fb = None
    if getattr(planner, "fallback_ok", False):
        fb = static_cut_means(ctx, trace, link, n_actions, gap_ms, fallback=planner.fallback)
        st_fb = float(np.where(feasible, fb, np.inf).min())
    return AdaptiveReport(r.mean_ms, o.mean_ms, float(st[b]), ctx.trace.cut_name(b), r.overhead_pct, r.switches,
                          [ctx.trace.cut_name(int(c)) for c in planner.pool.cuts], planner.pool.memory_bytes,
                          r.probe_bytes, r.aborted, st_fb)  # fmt: skip
