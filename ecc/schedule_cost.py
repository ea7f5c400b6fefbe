"""Latency of action generations over delivery schedules: how every transfer over a trace is priced.

A generation under a partition is compute, message, compute, message, ... (the transfers of
``ecc.cost.plan_transfers`` in execution order). Over a traced link each message is priced by
``ecc.network.transfer.send_ms`` at the instant it is sent, behind whatever its direction's
queue still holds, so an upload that starts in an empty 100 ms bin waits for the next delivery
opportunity (tens of ms), not for a clamped bin rate (10^6 ms). ``walk`` prices many rows (cuts)
at once, each from its own start time and queue state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecc.cost import Partition, Precision, plan_transfers, stage_times_ms
from ecc.network.config import LinkTraces
from ecc.network.link import LinkState
from ecc.network.predictors import effective_bandwidth_mbps
from ecc.network.transfer import LinkQueues, send_ms
from ecc.planners.base import PlanContext
from ecc.trace_types import ExecutionTrace


@dataclass(frozen=True)
class Timelines:
    """Messages of each row (one partition per row), padded to ``M`` messages.

    ``compute_ms[r, i]`` (ms) runs before message ``i`` of row ``r`` (``i = m_r``: after its
    last; zeros beyond); ``up[r, i]``: edge -> cloud; ``nbytes[r, i]``: payload bytes.
    """

    compute_ms: np.ndarray
    up: np.ndarray
    nbytes: np.ndarray
    valid: np.ndarray
    edge_ms: np.ndarray
    cloud_ms: np.ndarray

    @property
    def n_messages(self) -> int:
        return self.up.shape[1]

    def rows(self, idx: np.ndarray | list[int]) -> Timelines:
        i = np.asarray(idx)
        return Timelines(self.compute_ms[i], self.up[i], self.nbytes[i], self.valid[i],
                         self.edge_ms[i], self.cloud_ms[i])  # fmt: skip

    @property
    def bytes_up(self) -> np.ndarray:
        return np.where(self.valid & self.up, self.nbytes, 0.0).sum(axis=1)

    @property
    def msgs_up(self) -> np.ndarray:
        return (self.valid & self.up).sum(axis=1)


def partition_timeline(
    trace: ExecutionTrace,
    partition: Partition,
    edge_times_ms: np.ndarray,
    cloud_times_ms: np.ndarray,
    charge_io: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(compute ms before each message and after the last, up?, bytes, edge ms, cloud ms)."""
    transfers = plan_transfers(trace, partition, charge_io)
    on_cloud = np.asarray(partition.on_cloud, dtype=bool)[trace.arrays["unit"]]
    per_stage = np.where(on_cloud, cloud_times_ms, edge_times_ms)
    cum = np.concatenate([[0.0], np.cumsum(per_stage)])
    bounds = [0, *(t.before_stage for t in transfers), len(trace.stages)]
    compute = np.diff(cum[bounds])
    up = np.array([t.direction == "up" for t in transfers], dtype=bool)
    nbytes = np.array([t.nbytes for t in transfers], dtype=float)
    return (compute, up, nbytes, float(edge_times_ms[~on_cloud].sum()),
            float(cloud_times_ms[on_cloud].sum()))  # fmt: skip


def stack(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, float]]) -> Timelines:
    """Pad per-row timelines (from :func:`partition_timeline`) into one :class:`Timelines`."""
    m = max(1, max(len(r[1]) for r in rows))
    n = len(rows)
    compute = np.zeros((n, m + 1))
    up = np.zeros((n, m), dtype=bool)
    nbytes = np.zeros((n, m))
    valid = np.zeros((n, m), dtype=bool)
    for i, (c, u, b, _, _) in enumerate(rows):
        compute[i, : len(c)] = c
        up[i, : len(u)], nbytes[i, : len(b)], valid[i, : len(u)] = u, b, True
    return Timelines(compute, up, nbytes, valid, np.array([r[3] for r in rows]),
                     np.array([r[4] for r in rows]))  # fmt: skip


def generation_timeline(
    ctx: PlanContext, partition: Partition, precision: Precision | None = None
) -> Timelines:
    """The one-row timeline of ``partition`` at ``precision`` (default ``ctx.precision``)."""
    prec = ctx.precision if precision is None else precision
    te = stage_times_ms(ctx.trace, ctx.edge, prec)
    tc = stage_times_ms(ctx.trace, ctx.cloud, prec)
    return stack([partition_timeline(ctx.trace, partition, te, tc, ctx.charge_io)])


def cut_timelines(ctx: PlanContext) -> Timelines:
    """Timelines of every single cut of ``ctx`` (row = cut), computed once per context."""
    hit = ctx.__dict__.get("_timelines")
    if hit is None:
        te = stage_times_ms(ctx.trace, ctx.edge, ctx.precision)
        tc = stage_times_ms(ctx.trace, ctx.cloud, ctx.precision)
        hit = stack([partition_timeline(ctx.trace, ctx.partition(k), te, tc, ctx.charge_io)
                     for k in range(ctx.trace.n_cuts)])  # fmt: skip
        ctx.__dict__["_timelines"] = hit
    return hit


@dataclass
class Walk:
    """Priced rows: totals (ms), time in each direction (send to arrival, ms), and per message
    its send time (absolute ms) and each queue's next free opportunity after it."""

    total_ms: np.ndarray
    up_ms: np.ndarray
    down_ms: np.ndarray
    sent_ms: np.ndarray
    free_up: np.ndarray
    free_down: np.ndarray
    valid: np.ndarray
    up: np.ndarray

    def queues_after(self, row: int, start: LinkQueues, until_ms: float = np.inf) -> LinkQueues:
        """Queue state after row ``row``'s messages sent before ``until_ms`` (an abort
        abandons the rest; bytes already queued stay queued, as in a real link)."""
        ok = np.flatnonzero(self.valid[row] & (self.sent_ms[row] < until_ms))
        if len(ok) == 0:
            return LinkQueues(start.up, start.down)
        i = ok[-1]
        return LinkQueues(int(self.free_up[row, i]), int(self.free_down[row, i]))

    def queues_after_rows(
        self, start_up: np.ndarray, start_down: np.ndarray, until_ms: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`queues_after` for every row at once (arrays of queue indices)."""
        ok = self.valid & (self.sent_ms < np.asarray(until_ms, dtype=float)[:, None])
        m = ok.shape[1]
        last = np.where(ok.any(axis=1), m - 1 - np.argmax(ok[:, ::-1], axis=1), -1)
        rows = np.arange(len(last))
        li = np.maximum(last, 0)
        return (np.where(last >= 0, self.free_up[rows, li], start_up),
                np.where(last >= 0, self.free_down[rows, li], start_down))  # fmt: skip


def walk(
    tl: Timelines,
    link: LinkState,
    traces: LinkTraces,
    t0_ms: float | np.ndarray,
    queues: LinkQueues | tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator | None = None,
) -> Walk:
    """Price every row of ``tl`` starting at ``t0_ms`` (ms, scalar or per row) from ``queues``.

    ``rng=None``: expected delay and loss per message; else one draw per message.
    """
    r, m = tl.up.shape
    t = np.broadcast_to(np.asarray(t0_ms, dtype=float), (r,)).copy()
    start = t.copy()
    if isinstance(queues, LinkQueues):
        fu, fd = np.full(r, queues.up, np.int64), np.full(r, queues.down, np.int64)
    else:
        fu, fd = (np.broadcast_to(np.asarray(q, np.int64), (r,)).copy() for q in queues)
    up_ms, down_ms = np.zeros(r), np.zeros(r)
    sent = np.full((r, m), np.inf)
    free_up, free_down = np.zeros((r, m), np.int64), np.zeros((r, m), np.int64)
    t += tl.compute_ms[:, 0]
    for i in range(m):
        v, u = tl.valid[:, i], tl.up[:, i]
        vu, vd = v & u, v & ~u
        arr = t.copy()
        if vu.any():
            a, f = send_ms(link, traces.up, tl.nbytes[vu, i], t[vu], fu[vu], rng)
            arr[vu], fu[vu] = a, f
            up_ms[vu] += a - t[vu]
        if vd.any():
            a, f = send_ms(link, traces.down, tl.nbytes[vd, i], t[vd], fd[vd], rng)
            arr[vd], fd[vd] = a, f
            down_ms[vd] += a - t[vd]
        sent[v, i] = t[v]
        free_up[:, i], free_down[:, i] = fu, fd
        t = arr + tl.compute_ms[:, i + 1]
    return Walk(t - start, up_ms, down_ms, sent, free_up, free_down, tl.valid, tl.up)


def probe(
    link: LinkState,
    traces: LinkTraces,
    nbytes: float,
    t_ms: float,
    queues: LinkQueues,
    rng: np.random.Generator | None = None,
) -> tuple[float, LinkQueues]:
    """A background uplink probe of ``nbytes`` sent at ``t_ms``: (its ms, the queues after it)."""
    a, f = send_ms(link, traces.up, np.array([nbytes]), np.array([t_ms]),
                   np.array([queues.up]), rng)  # fmt: skip
    return float(a[0] - t_ms), LinkQueues(int(f[0]), queues.down)


def uplink_sample_mbps(link: LinkState, nbytes: float, n_msgs: int, up_ms: float) -> float | None:
    """Bandwidth sample (Mbit/s) the edge measures: bytes / (uplink ms - known base cost).

    The base is each message's one-way delay and software cost (RoboECC's RTT minus remote
    compute, with the propagation round trip removed). None when nothing went up.
    """
    if nbytes <= 0 or n_msgs <= 0:
        return None
    base = n_msgs * (link.delay_ms + link.overhead_ms)
    return effective_bandwidth_mbps(nbytes, rtt_ms=max(up_ms, base + 1e-3), remote_ms=0.0,
                                    base_rtt_ms=base)  # fmt: skip
