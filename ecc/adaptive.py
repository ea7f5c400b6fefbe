"""Action-by-action simulation of a planner against a bandwidth trace.

Generations run back to back (plus ``gap_ms``); generation ``k`` starts at ``t_k`` and
sees the trace's bandwidth at ``t_k`` for its whole duration (the cut may change only
between generations). After each generation the planner gets one bandwidth sample, as
its runtime would measure it (``bytes / (RTT - remote compute - base RTT)``), with
log-normal measurement noise; a generation that moved nothing sends a probe of
``probe_bytes`` in the background (counted, not charged as latency). A planner with a deadline
(``Planner.deadline_ms``, ``ecc.fallback``) has an overrunning generation finished on the edge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ecc.cuts import latency_per_cut_ms
from ecc.errors import InvalidValueError
from ecc.fallback import DeadlineFallback, with_deadline
from ecc.network.config import Network
from ecc.network.link import LinkState
from ecc.network.predictors import effective_bandwidth_mbps
from ecc.network.traces import BandwidthTrace
from ecc.planners.base import PlanContext, Planner


@dataclass
class AdaptiveResult:
    """Per-generation latency (ms), cut, start time (s) and true uplink (Mbit/s)."""

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


def _link_at(link: LinkState, trace: BandwidthTrace, t_s: float) -> LinkState:
    return Network(link, trace).link_at(t_s)


def simulate_adaptive(
    ctx: PlanContext,
    planner: Planner,
    trace: BandwidthTrace,
    link: LinkState,
    n_actions: int = 200,
    gap_ms: float = 0.0,
    sample_noise: float = 0.0,
    seed: int = 0,
) -> AdaptiveResult:
    """Run ``n_actions`` generations; ``link`` gives delays/loss and the nominal bandwidth.

    ``sample_noise``: extra log-normal measurement noise on each bandwidth sample, on top of
    the jitter and losses drawn for the transfers themselves.
    """
    if n_actions < 1:
        raise InvalidValueError("n_actions", n_actions, ">= 1")
    rng = np.random.default_rng(seed)
    costs = ctx.costs
    cut = planner.reset(ctx, link)
    lat, cuts, ts, bws, over = (np.empty(n_actions) for _ in range(5))
    t, probes, probe_bytes, aborted = 0.0, 0, int(getattr(planner, "probe_bytes", 0)), 0
    for k in range(n_actions):
        true = _link_at(link, trace, t)
        t0 = time.perf_counter()
        cut = planner.decide(ctx, t, true)
        dt_decide = time.perf_counter() - t0
        lat[k] = costs.latency_ms(true)[cut] if k == 0 else _one(costs, cut, true)
        deadline = planner.deadline_ms(ctx, cut)
        if deadline is not None:
            ms, abort = with_deadline(costs, cut, lat[k], deadline)
            lat[k], aborted = float(ms), aborted + int(abort)
        cuts[k], ts[k], bws[k] = cut, t, true.up_mbps
        nbytes, nmsgs = float(costs.transfers.bytes_up[cut]), int(costs.transfers.msgs_up[cut])
        if nbytes <= 0:  # nothing went up: a background probe measures the link instead
            probes += 1
            nbytes, nmsgs = float(max(probe_bytes, 1)), 1
        sample = measured_uplink_mbps(nbytes, nmsgs, true, rng) * float(
            np.exp(rng.normal(0.0, sample_noise))
        )
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


def _one(costs, cut: int, link: LinkState) -> float:
    au, bu = link.coefficients("up")
    ad, bd = link.coefficients("down")
    t = costs.transfers
    return float(costs.edge_ms[cut] + costs.cloud_ms[cut] + au * t.msgs_up[cut] + bu * t.bytes_up[cut]
                 + ad * t.msgs_down[cut] + bd * t.bytes_down[cut])  # fmt: skip


def static_cut_means(
    ctx: PlanContext,
    trace: BandwidthTrace,
    link: LinkState,
    n_actions: int = 200,
    gap_ms: float = 0.0,
    fallback: DeadlineFallback | None = None,
) -> np.ndarray:
    """Mean latency per generation (ms) of every fixed cut, each on its own timeline.

    ``fallback``: the same deadline rule for every cut, its expectation taken at ``link``'s
    nominal bandwidth (a static cut has no other belief).
    """
    costs = ctx.costs
    n = costs.n_cuts
    t = np.zeros(n)
    total = np.zeros(n)
    ratio = link.down_mbps / link.up_mbps
    cuts = np.arange(n)
    deadlines = None
    if fallback is not None:
        expected = costs.latency_ms(link) - costs.edge_ms
        deadlines = np.array([fallback.deadline_ms(r) or np.inf for r in expected])
    for _ in range(n_actions):
        bw = np.maximum(np.asarray(trace.at(t), dtype=float), 1e-3)
        lat = latency_per_cut_ms(costs, bw, bw * ratio, link)
        if deadlines is not None:
            lat = with_deadline(costs, cuts, lat, deadlines)[0]
        total += lat
        t += (lat + gap_ms) / 1e3
    return total / n_actions
