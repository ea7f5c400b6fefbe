"""Action-by-action simulation of a planner against a link's delivery schedules.

Generations run back to back (plus ``gap_ms``); generation ``k`` starts at ``t_k`` and each of
its messages is priced from the schedules at the instant it is sent (``ecc.schedule_cost``):
a message waits for delivery opportunities and behind bytes still queued in its direction
(the cut may change only between generations). After each generation the planner gets one
bandwidth sample, as its runtime would measure it (``bytes / (uplink time - base)``, with
jitter and losses drawn), times log-normal measurement noise; a generation that moved nothing
sends a probe of ``probe_bytes`` in the background (it takes uplink opportunities, it is
not charged as latency). A planner with a deadline (``Planner.deadline_ms``,
``ecc.fallback``) has an overrunning generation finished on the edge; what it had queued
stays queued. The oracle sees every cut priced over the true schedule before choosing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ecc.errors import InvalidValueError
from ecc.fallback import DeadlineFallback, with_deadline
from ecc.network.config import LinkTraces, Network
from ecc.network.link import LinkState
from ecc.network.predictors import effective_bandwidth_mbps
from ecc.network.schedule import FluidSchedule
from ecc.network.traces import BandwidthTrace, constant
from ecc.network.transfer import LinkQueues
from ecc.planners.base import PlanContext, Planner
from ecc.planners.oracle import OraclePlanner
from ecc.schedule_cost import cut_timelines, probe, uplink_sample_mbps, walk

TraceLike = BandwidthTrace | LinkTraces | Network | None


@dataclass
class AdaptiveResult:
    """Per-generation latency (ms), cut, start time (s) and binned true uplink (Mbit/s)."""

    latency_ms: np.ndarray
    cuts: np.ndarray
    t_s: np.ndarray
    true_up_mbps: np.ndarray
    decision_overhead_ms: np.ndarray
    probe_bytes: int = 0
    switches: int = 0
    aborted: int = 0
    info: dict = field(default_factory=dict)

    @property
    def mean_ms(self) -> float:
        return float(self.latency_ms.mean())

    @property
    def overhead_pct(self) -> float:
        """Adjustment machinery's CPU time as % of inference latency."""
        return float(100 * self.decision_overhead_ms.sum() / self.latency_ms.sum())


def as_network(trace: TraceLike, link: LinkState) -> tuple[Network, LinkTraces]:
    """The network of ``link`` and ``trace``, and its schedules (constant rates when None)."""
    net = trace if isinstance(trace, Network) else Network(link, trace)
    if net.schedules is None:  # a constant link is a schedule too (one that never changes)
        return net, LinkTraces(FluidSchedule(constant(net.link.up_mbps, 60.0)),
                               FluidSchedule(constant(net.link.down_mbps, 60.0)))  # fmt: skip
    return net, net.schedules


def simulate_adaptive(
    ctx: PlanContext,
    planner: Planner,
    trace: TraceLike,
    link: LinkState,
    n_actions: int = 200,
    gap_ms: float = 0.0,
    sample_noise: float = 0.0,
    seed: int = 0,
) -> AdaptiveResult:
    """Run ``n_actions`` generations; ``link`` gives delays/loss and the nominal bandwidth.

    ``trace``: one uplink bandwidth trace (the downlink at the link's down/up ratio), per-direction
    schedules (``LinkTraces``), a whole ``Network``, or None (the link's constant rates).
    ``sample_noise``: extra log-normal measurement noise on each bandwidth sample, on top of
    the jitter and losses drawn for the transfers themselves.
    """
    if n_actions < 1:
        raise InvalidValueError("n_actions", n_actions, ">= 1")
    rng = np.random.default_rng(seed)
    net, traces = as_network(trace, link)
    link = net.link
    tl = cut_timelines(ctx)
    costs = ctx.costs
    oracle = isinstance(planner, OraclePlanner)
    cut = planner.reset(ctx, link)
    queues = LinkQueues()
    lat, cuts, ts, bws, over = (np.empty(n_actions) for _ in range(5))
    t, probes, probe_bytes, aborted = 0.0, 0, int(getattr(planner, "probe_bytes", 0)), 0
    for k in range(n_actions):
        t_ms = t * 1e3
        true = net.link_at(t)
        t0 = time.perf_counter()
        if oracle:  # the oracle prices every cut over the true schedule, then chooses
            w_all = walk(tl, link, traces, t_ms, queues)
            cut = planner.choose(w_all.total_ms)
        else:
            cut = planner.decide(ctx, t, true)
        dt_decide = time.perf_counter() - t0
        row = tl.rows([cut])
        w = walk(row, link, traces, t_ms, queues)
        lat[k] = float(w.total_ms[0])
        until = np.inf
        deadline = planner.deadline_ms(ctx, cut)
        if deadline is not None:
            ms, abort = with_deadline(costs, cut, lat[k], deadline)
            if bool(abort):
                until = t_ms + float(costs.edge_ms[cut]) + deadline
            lat[k], aborted = float(ms), aborted + int(abort)
        drawn = walk(row, link, traces, t_ms, queues, rng)  # what the edge measures
        queues = w.queues_after(0, queues, until)
        cuts[k], ts[k], bws[k] = cut, t, true.up_mbps
        nbytes, nmsgs = float(row.bytes_up[0]), int(row.msgs_up[0])
        if nbytes > 0:
            sample = uplink_sample_mbps(link, nbytes, nmsgs, float(drawn.up_ms[0]))
        else:  # nothing went up: a background probe measures the link instead
            probes += 1
            nbytes = float(max(probe_bytes, 1))
            ms, queues = probe(link, traces, nbytes, t_ms, queues, rng)
            sample = uplink_sample_mbps(link, nbytes, 1, ms)
        sample = float(sample) * float(np.exp(rng.normal(0.0, sample_noise)))
        t0 = time.perf_counter()
        planner.observe(sample)
        over[k] = (dt_decide + time.perf_counter() - t0) * 1e3
        t += (lat[k] + gap_ms) / 1e3
    return AdaptiveResult(lat, cuts.astype(int), ts, bws, over, probes * probe_bytes,
                          int(getattr(planner, "switches", 0)), aborted, {"planner": planner.name})  # fmt: skip


def measured_uplink_mbps(
    nbytes: float, n_msgs: int, link: LinkState, rng: np.random.Generator
) -> float:
    """Bandwidth sample (Mbit/s) the edge would measure for ``n_msgs`` uplink messages
    carrying ``nbytes``: their drawn time (jitter, lost segments) minus the known base cost
    (one-way delay and per-message overhead), i.e. ``bytes / (RTT - remote - base RTT)``."""
    delays = (
        np.maximum(0.0, link.delay_ms + rng.normal(0.0, link.jitter_ms, n_msgs))
        if link.jitter_ms
        else np.full(n_msgs, link.delay_ms)
    )
    segments = int(nbytes // link.mss_bytes) + n_msgs
    lost = rng.binomial(segments, link.loss) if link.loss else 0
    ms = (
        float(delays.sum())
        + n_msgs * link.overhead_ms
        + (nbytes + n_msgs * link.overhead_bytes) * 8e3 / link.up_bps
    )
    ms += lost * link.penalty_ms
    base = n_msgs * (link.delay_ms + link.overhead_ms)
    return effective_bandwidth_mbps(
        nbytes, rtt_ms=max(ms, base + 1e-6), remote_ms=0.0, base_rtt_ms=base
    )


def static_cut_means(
    ctx: PlanContext,
    trace: TraceLike,
    link: LinkState,
    n_actions: int = 200,
    gap_ms: float = 0.0,
    fallback: DeadlineFallback | None = None,
) -> np.ndarray:
    """Mean latency per generation (ms) of every fixed cut, each on its own timeline and queues.

    ``fallback``: the same deadline rule for every cut, its expectation taken at ``link``'s
    nominal bandwidth (a static cut has no other belief).
    """
    net, traces = as_network(trace, link)
    link = net.link
    costs = ctx.costs
    tl = cut_timelines(ctx)
    n = costs.n_cuts
    t_ms = np.zeros(n)
    total = np.zeros(n)
    fu, fd = np.zeros(n, np.int64), np.zeros(n, np.int64)
    cuts = np.arange(n)
    deadlines = None
    if fallback is not None:
        expected = costs.latency_ms(link) - costs.edge_ms
        deadlines = np.array([fallback.deadline_ms(r) or np.inf for r in expected])
    for _ in range(n_actions):
        w = walk(tl, link, traces, t_ms, (fu, fd))
        lat = w.total_ms
        until = np.full(n, np.inf)
        if deadlines is not None:
            lat, abort = with_deadline(costs, cuts, lat, deadlines)
            until = np.where(abort, t_ms + costs.edge_ms + deadlines, np.inf)
        fu, fd = w.queues_after_rows(fu, fd, until)
        total += lat
        t_ms += lat + gap_ms
    return total / n_actions
