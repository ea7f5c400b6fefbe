"""Deadline fallback: abort a generation's remote part when it overruns, finish it on the edge.

A reactive planner learns of a bandwidth collapse only from the generation that suffered it, so
every drop costs one generation at the stale cut (an uplink that takes seconds instead of ms). With
a deadline the edge stops waiting once the remote part (uplink + cloud compute + downlink) has
taken ``factor`` times what the planner expected at its bandwidth belief (and at least
``min_slack_ms`` more), and runs the remaining stages itself. That needs the edge to hold the whole
model and the edge to own the prefix (``edge_prefix``): with a cloud prefix the edge has nothing
to continue from. The cut itself is unchanged; the planner still moves only between generations.

Not in the RoboECC paper: ``conf/partition/roboecc.yaml`` turns it on, ``roboecc_paper`` does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecc.cuts import CutCosts
from ecc.errors import InvalidValueError
from ecc.network.link import LinkState


@dataclass(frozen=True)
class DeadlineFallback:
    """Abort rule: deadline = max(factor x expected remote ms, expected + min_slack_ms)."""

    factor: float = 3.0
    min_slack_ms: float = 20.0

    def __post_init__(self) -> None:
        if not self.factor > 1.0:
            raise InvalidValueError("fallback_factor", self.factor, "a float > 1 (x expected)")
        if self.min_slack_ms < 0:
            raise InvalidValueError("fallback_slack_ms", self.min_slack_ms, "a float >= 0 (ms)")

    def deadline_ms(self, remote_ms: float) -> float | None:
        """Deadline (ms after the edge part) for a remote part expected to take ``remote_ms``."""
        if remote_ms <= 0:
            return None  # edge-only: nothing to wait for
        return max(self.factor * remote_ms, remote_ms + self.min_slack_ms)


def remote_ms(costs: CutCosts, cut: int, link: LinkState) -> float:
    """Expected uplink + cloud compute + downlink of ``cut`` under ``link`` (ms)."""
    return float(costs.latency_ms(link)[cut] - costs.edge_ms[cut])


def with_deadline(
    costs: CutCosts,
    cut: int | np.ndarray,
    latency_ms: float | np.ndarray,
    deadline_ms: float | np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Latency (ms) of ``cut`` when its remote part is abandoned at ``deadline_ms``, and whether it was.

    ``latency_ms`` is what the generation takes without a deadline; an aborted one costs the
    deadline plus the whole edge-only compute (the edge's prefix work is reused, the rest runs
    there). Elementwise over arrays of cuts / latencies / deadlines; ``None`` or ``inf``: no deadline.
    """
    if costs.direction != "edge_prefix":
        raise InvalidValueError(
            "direction", costs.direction, "edge_prefix (the edge owns the prefix)"
        )
    lat = np.asarray(latency_ms, dtype=float)
    dl = np.full_like(lat, np.inf) if deadline_ms is None else np.asarray(deadline_ms, dtype=float)
    aborted = lat - costs.edge_ms[np.asarray(cut)] > dl
    return np.where(aborted, costs.edge_ms[-1] + np.where(aborted, dl, 0.0), lat), aborted
