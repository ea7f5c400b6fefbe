"""Planners: registry, budgets, DAG min-cut, static exactness and the adaptive acceptance."""

import numpy as np
import pytest

from ecc.cost import Partition, latency_breakdown
from ecc.errors import EccError, InfeasiblePlanError, UnknownNameError
from ecc.evaluation import adaptive_comparison, static_exactness
from ecc.network.link import LinkState
from ecc.network.traces import markov, step
from ecc.planners import Planner, RoboECCPlanner, make_context, make_planner


@pytest.fixture(scope="module")
def ctx():
    return make_context("openvla-7b", "orin_agx_64gb", "a100_80gb", granularity="block")


def test_registry_and_errors():
    assert {
        "edge_only",
        "cloud_only",
        "fixed",
        "neurosurgeon",
        "mincut",
        "roboecc",
        "oracle",
    } <= set(Planner.registry)
    with pytest.raises(UnknownNameError, match="partition='greedy'"):
        make_planner("greedy")
    with pytest.raises(TypeError, match="must set"):

        class Nameless(Planner):
            def plan(self, ctx, link):
                return None

    with pytest.raises(EccError, match="low/high"):
        RoboECCPlanner(high=-0.1)


def test_simple_planners_and_fixed_by_name(ctx):
    link = LinkState(100, 400, 5)
    assert make_planner("edge_only").plan(ctx, link).cut == ctx.trace.n_units
    assert make_planner("cloud_only").plan(ctx, link).cut == 0
    p = make_planner("fixed", cut="llm.layer3").plan(ctx, link)
    assert ctx.trace.units[p.cut - 1].name == "llm.layer3"
    bd = latency_breakdown(ctx.trace, p.partition, ctx.edge, ctx.cloud, link)
    assert p.predicted_ms == pytest.approx(bd.total_ms)
    with pytest.raises(UnknownNameError):
        make_planner("fixed", cut="llm.layer99").plan(ctx, link)
    # no index from the end: a negative cut is refused, naming the field and the range
    for bad in (-5, "-1", ctx.trace.n_units + 1):
        with pytest.raises(ValueError, match=r"partition.cut=.* is not allowed; allowed: 0\.\."):
            make_planner("fixed", cut=bad).plan(ctx, link)


def test_roboecc_moves_with_bandwidth_and_respects_budgets(ctx):
    slow, fast = LinkState(0.3, 1, 30), LinkState(500, 500, 2)
    r = RoboECCPlanner()
    assert r.plan(ctx, slow).cut == ctx.trace.n_units  # edge-only when the uplink crawls
    assert r.plan(ctx, fast).cut == 0
    ctx2 = make_context(
        "openvla-7b", "orin_agx_64gb", "a100_80gb", granularity="block", max_cloud_load=0.5
    )
    p = r.plan(ctx2, fast)
    assert ctx2.costs.cloud_flops_frac[p.cut] <= 0.5
    ctx3 = make_context(
        "openvla-7b", "orin_nano_8gb", "a100_80gb", granularity="block", cloud_mem_budget_bytes=1e9
    )
    with pytest.raises(
        InfeasiblePlanError
    ):  # 8 GB edge cannot hold 14 GB of weights, cloud is capped
        r.plan(ctx3, fast)


def test_mincut_splits_parallel_towers():
    """With one tower very expensive on the edge, min-cut offloads that branch only."""
    from dataclasses import replace

    c = make_context("openvla-7b", "orin_agx_64gb", "a100_80gb", granularity="block")
    link = LinkState(200, 200, 1)
    plan = make_planner("mincut").plan(c, link)
    bd = latency_breakdown(c.trace, plan.partition, c.edge, c.cloud, link)
    assert plan.predicted_ms == pytest.approx(bd.total_ms)
    # Never worse than the better of edge-only / cloud-only by more than the per-tensor message approximation.
    ends = min(make_planner(n).plan(c, link).predicted_ms for n in ("edge_only", "cloud_only"))
    assert plan.predicted_ms <= ends * 1.05
    # A partition placing one tower on the cloud is expressible and priced by the same walk.
    mask = [u.name.startswith("vision.siglip") for u in c.trace.units]
    part = Partition(tuple(mask))
    bd2 = latency_breakdown(c.trace, part, c.edge, c.cloud, link)
    assert bd2.msgs_up >= 1
    assert bd2.msgs_down >= 1
    assert replace(plan.partition).on_cloud == plan.partition.on_cloud


def test_static_search_is_exhaustive_optimum():
    rep = static_exactness(n_cases=150, seed=7)
    assert rep.ok, rep.mismatches[:3]
    assert rep.matches > 100


@pytest.mark.slow
def test_static_search_is_exhaustive_optimum_1000():
    rep = static_exactness(n_cases=1000, seed=0)
    assert rep.ok, rep.mismatches[:3]


def test_adaptive_close_to_oracle_and_beats_static():
    ctx = make_context("openvla-7b", "orin_agx_64gb", "a100_80gb", granularity="block")
    link = LinkState(50, 200, 10, 2, 0.001)
    for tr in (step([100, 0.5], 60, 2400), markov(100, 0.5, 0.02, 0.05, 1.0, 2400, seed=0)):
        rep = adaptive_comparison(ctx, tr, link, n_actions=400, gap_ms=400)
        assert rep.vs_oracle <= 0.10, (tr.name, rep)
        assert rep.vs_static >= 0.15, (tr.name, rep)
        assert rep.roboecc_ms >= rep.oracle_ms * (1 - 1e-9)
        assert rep.pool_memory_bytes > 0
    assert np.isfinite(rep.overhead_pct)


def test_max_flow_min_cut_matches_brute_force():
    import itertools

    from ecc.planners.mincut import max_flow_min_cut

    rng = np.random.default_rng(0)
    for _ in range(30):
        n = 7  # nodes 5 (s) and 6 (t) plus 5 inner nodes
        arcs = {
            (int(u), int(v)): float(rng.uniform(0, 10))
            for u, v in rng.integers(0, n, (18, 2))
            if u != v
        }
        side = max_flow_min_cut(n, arcs, 5, 6)
        assert side[5]
        assert not side[6]

        def cost(mask, arcs=arcs):
            return sum(c for (u, v), c in arcs.items() if mask[u] and not mask[v])

        best = min(
            cost({**dict(enumerate(bits)), 5: True, 6: False})
            for bits in itertools.product([True, False], repeat=5)
        )
        assert cost(dict(enumerate(side))) == pytest.approx(best)


def test_roboecc_paper_rule_and_radius_pool():
    ctx = make_context("openvla-7b", "orin_agx_64gb", "a100_80gb", granularity="sublayer")
    link = LinkState(20, 80, 10)
    p = RoboECCPlanner(rule="paper", pool_mode="radius", radius=1, conservative=False, min_gain=0.0)
    cut = p.reset(ctx, link)
    assert len(p.pool.cuts) <= 3
    assert cut in p.pool.cuts
    p.observe(200.0)
    up = p.decide(ctx, 1.0)
    act = ctx.costs.transfers.bytes_up + ctx.costs.transfers.bytes_down
    assert act[up] == act[p.pool.cuts].max()  # bandwidth rose: the largest boundary activation
    for _ in range(5):
        p.observe(0.5)
    down = p.decide(ctx, 2.0)
    assert act[down] == act[p.pool.cuts].min()
    # Pool memory = the weights between its extreme cuts, resident on both sides.
    lo, hi = p.pool.cuts.min(), p.pool.cuts.max()
    assert p.pool.memory_bytes == pytest.approx(
        ctx.costs.edge_mem_bytes[hi] - ctx.costs.edge_mem_bytes[lo]
    )


def test_neurosurgeon_regression_on_measured_profiles():
    import torch

    from agents import zoo
    from ecc.calibrate import measure_model
    from ecc.planners import NeurosurgeonPlanner

    torch.set_num_threads(1)
    ms = [
        measure_model(zoo.get_shape(n), torch.device("cpu"), torch.float32, repeats=3)
        for n in ("oft-tiny", "cogact-tiny")
    ]
    ns = NeurosurgeonPlanner()
    reg = ns.fit_measured("local_cpu", ms)
    pred = reg.predict(ms[0].trace)
    assert pred.shape == ms[0].measured_ms.shape
    # A linear model per stage kind explains the whole model's time to within 2x.
    assert 0.5 < pred.sum() / ms[0].measured_ms.sum() < 2.0


def test_auto_probe_sends_what_a_switch_would_upload():
    ctx = make_context("openvla-7b", "orin_agx_64gb", "a100_80gb", granularity="block")
    planner = RoboECCPlanner(probe_bytes=None)
    planner.reset(ctx, LinkState(5.0, 5.0, 30.0))
    up = ctx.costs.transfers.bytes_up[planner.pool.cuts]
    assert planner.probe_bytes == int(up[up > 0].min())
    assert planner.probe_bytes == 150_784  # the image, for the cloud-only cut in the pool
    with pytest.raises(EccError, match="probe_bytes"):
        RoboECCPlanner(probe_bytes=-1)
