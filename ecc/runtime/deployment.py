"""Latency of a modeled deployment: a named architecture on an edge/cloud pair over a (traced) link.

Each inference is priced by the reference cost model (``ecc.cost.latency_breakdown``) at the link
state of its world time, under the cut the partition planner chooses for that generation. The planner
then sees one bandwidth sample, as a real runtime would measure it (bytes / (RTT - remote compute)),
so adaptive planners (RoboECC) react to the trace exactly as in ``ecc.adaptive``. A planner with a
deadline (``ecc.fallback``) has an overrunning remote part abandoned and the generation finished on
the edge: the timing then charges the wait as ``uplink_ms`` and sets ``fallback``.

Over a traced link (``network.trace.up`` / ``.down``) every message is priced from the delivery
schedules at the instant it is sent, behind the bytes still queued in its direction
(``ecc.schedule_cost``); the queues persist across generations within an episode, so an aborted
upload or a probe still occupies the uplink. The binned rate is only the planner's belief.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ecc.adaptive import measured_uplink_mbps
from ecc.cost import Partition, Precision, latency_breakdown, sample_breakdown
from ecc.errors import check_choice
from ecc.network.config import Network
from ecc.network.link import LinkState
from ecc.network.transfer import LinkQueues
from ecc.planners.base import PlanContext, Planner
from ecc.runtime.latency import InferenceTiming
from ecc.schedule_cost import (
    cut_timelines,
    generation_timeline,
    probe,
    uplink_sample_mbps,
    walk,
)

TARGETS = ("default", "cloud", "edge")


class ModeledDeployment:
    """A ``LatencySource`` pricing each inference with the cost model.

    Args:
        ctx: what is split (trace of the deployed architecture) onto which hardware pair, budgets.
        planner: chooses the cut of each generation (``reset``/``decide``/``observe`` protocol).
        network: link parameters and optional bandwidth trace (world time in s).
        jitter: draw per-message jitter and lost segments (seeded) instead of the expected latency.
        seed: seed of those draws and of the bandwidth samples.
        precision_fn: the precision of the next inference (e.g. DyQ's current activation bits as
            a per-stage map); None: ``ctx.precision`` throughout.
        episode_seeds: episode k (0-based, counted by ``reset``) draws from seed ``seed + k``, as
            the main job seeds episode k of a task with ``seed + k``; False: ``seed`` throughout.
    """

    def __init__(
        self,
        ctx: PlanContext,
        planner: Planner,
        network: Network,
        jitter: bool = True,
        seed: int = 0,
        precision_fn: Callable[[], Precision] | None = None,
        episode_seeds: bool = False,
    ) -> None:
        self.ctx = ctx
        self.episode_seeds = episode_seeds
        self.planner = planner
        self.network = network
        self.jitter = jitter
        self.seed = seed
        self.precision_fn = precision_fn
        self.label = f"model:{ctx.trace.shape_name}@{ctx.edge.name}+{ctx.cloud.name}"
        self.reset()

    def reset(self) -> None:
        """Start an episode: fresh planner state, and jitter draws of their own (seed, episode)."""
        self.episode = getattr(self, "episode", -1) + 1
        # reset() runs once at construction: episode k is the (k + 1)-th reset after it
        seed = self.seed + max(self.episode - 1, 0) if self.episode_seeds else self.seed
        self.rng = np.random.default_rng([seed, self.episode])
        self.first_cut = self.planner.reset(self.ctx, self.network.link_at(0.0))
        self.cuts: list[int] = []
        self.probe_bytes_sent = 0
        self.queues = LinkQueues()

    def charge(
        self, world_time_s: float, measured_ms: float, target: str = "default"
    ) -> InferenceTiming:
        check_choice("scheduler target", target, TARGETS)
        if self.network.schedules is not None:
            return self._charge_scheduled(world_time_s, target)
        link = self.network.link_at(world_time_s)
        trace = self.ctx.trace
        t0 = time.perf_counter()
        partition = self._partition(target, world_time_s, link)
        planner_ms = (time.perf_counter() - t0) * 1e3
        precision = self.precision_fn() if self.precision_fn is not None else self.ctx.precision
        bd = latency_breakdown(
            trace, partition, self.ctx.edge, self.ctx.cloud, link, precision,
            charge_io=self.ctx.charge_io,
        )  # fmt: skip
        if self.jitter:
            bd = sample_breakdown(bd, link, self.rng)
        times = {"edge_ms": bd.edge_ms, "uplink_ms": bd.uplink_ms, "cloud_ms": bd.cloud_ms,
                 "downlink_ms": bd.downlink_ms}  # fmt: skip
        fallback = False
        if target == "default":
            deadline = self.planner.deadline_ms(self.ctx, int(partition.cut))
            remote = bd.uplink_ms + bd.cloud_ms + bd.downlink_ms
            if deadline is not None and remote > deadline:
                fallback = True
                edge_only = latency_breakdown(
                    trace, Partition.edge_only(trace), self.ctx.edge, self.ctx.cloud, link,
                    precision, charge_io=self.ctx.charge_io,
                )  # fmt: skip
                # the edge's prefix work is reused; waiting until the deadline is charged as uplink
                times = {"edge_ms": edge_only.edge_ms, "uplink_ms": deadline, "cloud_ms": 0.0,
                         "downlink_ms": 0.0}  # fmt: skip
            t1 = time.perf_counter()
            nbytes, nmsgs = bd.bytes_up, bd.msgs_up
            if nbytes <= 0:  # nothing went up (edge-only): a background probe measures the link
                nbytes, nmsgs = int(getattr(self.planner, "probe_bytes", 0)), 1
                self.probe_bytes_sent += nbytes
            sample = measured_uplink_mbps(nbytes, nmsgs, link, self.rng) if nbytes > 0 else None
            self.planner.observe(sample)
            planner_ms += (time.perf_counter() - t1) * 1e3
        return InferenceTiming(
            total_ms=sum(times.values()),  # edge + uplink + cloud + downlink, in that order
            **times,
            planner_ms=planner_ms,
            uplink_mbps=float(link.up_mbps),
            fallback=fallback,
            bytes_up=bd.bytes_up,
            bytes_down=bd.bytes_down,
            cut=partition.label or str(partition.cut),
            world_time_s=world_time_s,
            source=self.label,
        )

    def _partition(
        self,
        target: str,
        world_time_s: float,
        link: LinkState,
        true_ms: Callable[[], np.ndarray] | None = None,
    ) -> Partition:
        """The partition of this generation: the scheduler's target, else the planner's cut.

        ``true_ms`` (every cut's latency over the true schedule, ms) is offered to a planner
        that chooses from it (the oracle); others decide from ``link``, their belief.
        """
        if target == "cloud":
            return Partition.cloud_only(self.ctx.trace)
        if target == "edge":
            return Partition.edge_only(self.ctx.trace)
        if true_ms is not None and hasattr(self.planner, "choose"):
            cut = self.planner.choose(true_ms())
        else:
            cut = self.planner.decide(self.ctx, world_time_s, link)
        self.cuts.append(cut)
        return self.ctx.partition(cut)

    def _charge_scheduled(self, world_time_s: float, target: str) -> InferenceTiming:
        """:meth:`charge` over delivery schedules: every message priced when it is sent."""
        traces, lk = self.network.schedules, self.network.link
        assert traces is not None
        belief = self.network.link_at(world_time_s)  # binned: what a planner may believe
        trace, t_ms = self.ctx.trace, world_time_s * 1e3
        t0 = time.perf_counter()
        # the oracle chooses from every cut priced over the true schedule
        true_ms = lambda: walk(cut_timelines(self.ctx), lk, traces, t_ms, self.queues).total_ms  # noqa: E731
        partition = self._partition(target, world_time_s, belief, true_ms)
        planner_ms = (time.perf_counter() - t0) * 1e3
        precision = self.precision_fn() if self.precision_fn is not None else self.ctx.precision
        tl = generation_timeline(self.ctx, partition, precision)
        w = walk(tl, lk, traces, t_ms, self.queues, self.rng if self.jitter else None)
        edge_ms, cloud_ms = float(tl.edge_ms[0]), float(tl.cloud_ms[0])
        up_ms, down_ms = float(w.up_ms[0]), float(w.down_ms[0])
        times = {"edge_ms": edge_ms, "uplink_ms": up_ms, "cloud_ms": cloud_ms,
                 "downlink_ms": down_ms}  # fmt: skip
        fallback, until = False, float("inf")
        if target == "default":
            deadline = self.planner.deadline_ms(self.ctx, int(partition.cut))
            if deadline is not None and up_ms + cloud_ms + down_ms > deadline:
                fallback, until = True, t_ms + edge_ms + deadline
                full = generation_timeline(self.ctx, Partition.edge_only(trace), precision)
                # the edge's prefix work is reused; waiting until the deadline is charged as uplink
                times = {"edge_ms": float(full.edge_ms[0]), "uplink_ms": deadline,
                         "cloud_ms": 0.0, "downlink_ms": 0.0}  # fmt: skip
        self.queues = w.queues_after(0, self.queues, until)
        bytes_up, msgs_up = float(tl.bytes_up[0]), int(tl.msgs_up[0])
        if target == "default":
            t1 = time.perf_counter()
            if bytes_up > 0:
                sample = uplink_sample_mbps(lk, bytes_up, msgs_up, up_ms)
            else:  # nothing went up (edge-only): a background probe measures the link
                nbytes = int(getattr(self.planner, "probe_bytes", 0))
                sample = None
                if nbytes > 0:
                    self.probe_bytes_sent += nbytes
                    ms, self.queues = probe(lk, traces, nbytes, t_ms, self.queues, self.rng)
                    sample = uplink_sample_mbps(lk, nbytes, 1, ms)
            self.planner.observe(sample)
            planner_ms += (time.perf_counter() - t1) * 1e3
        bytes_down = float(np.where(tl.valid & ~tl.up, tl.nbytes, 0.0).sum())
        return InferenceTiming(
            total_ms=sum(times.values()),  # edge + uplink + cloud + downlink, in that order
            **times,
            planner_ms=planner_ms,
            uplink_mbps=float(belief.up_mbps),  # the binned belief, not the schedule's instant
            fallback=fallback,
            bytes_up=int(bytes_up),
            bytes_down=int(bytes_down),
            cut=partition.label or str(partition.cut),
            world_time_s=world_time_s,
            source=self.label,
        )

    def edge_memory_bytes(self) -> float:
        """Weights resident on the edge under the planner's current cut (bytes)."""
        cut = self.cuts[-1] if self.cuts else self.first_cut
        return float(self.ctx.costs.edge_mem_bytes[cut])
