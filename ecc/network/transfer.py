"""A link driven by delivery schedules: one FIFO per direction, then delay, jitter and loss.

A message of ``n`` payload bytes sent at ``t`` (ms) enters its direction's queue after the
per-message software cost (``overhead_ms``), needs ``ceil((n + overhead_bytes) / 1500)``
delivery opportunities of that direction's schedule, the first at or after it entered and
after every opportunity taken by bytes queued ahead of it (``mm-link``'s FIFO), and arrives
one propagation delay (jittered, as ``mm-delay`` outside ``mm-link``) after its last packet
left. Lost segments each cost ``penalty_ms`` (one RTT: a fast retransmit), expected or drawn.

State is the index of the next free opportunity per direction; every function here is
elementwise over arrays of messages so planners can price every cut at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecc.errors import InvalidValueError
from ecc.network.link import LinkState
from ecc.network.schedule import Schedule, packets

DIRECTIONS = ("up", "down")


@dataclass
class LinkQueues:
    """Next free delivery opportunity (index into the schedule) of each direction."""

    up: int = 0
    down: int = 0


def send_ms(
    link: LinkState,
    schedule: Schedule,
    nbytes: np.ndarray,
    sent_ms: np.ndarray,
    next_free: np.ndarray,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(arrival ms, next free opportunity after it) of messages sent at ``sent_ms`` (ms).

    ``nbytes``: payload bytes; ``next_free``: the queue's next free opportunity when each
    message is sent. ``rng=None`` charges the expected delay and loss, else one draw.
    """
    b = np.asarray(nbytes, dtype=float)
    t_in = np.asarray(sent_ms, dtype=float) + link.overhead_ms
    first = np.maximum(schedule.count_before(t_in), np.asarray(next_free, dtype=np.int64))
    last = first + np.maximum(packets(b + link.overhead_bytes), 1) - 1
    out = schedule.time_of(last)
    segments = np.floor(b / link.mss_bytes) + 1
    if rng is None:
        delay = np.full_like(out, link.delay_ms, dtype=float)
        lost = segments * link.loss / (1 - link.loss)
    else:
        delay = (
            np.maximum(0.0, link.delay_ms + rng.normal(0.0, link.jitter_ms, np.shape(out)))
            if link.jitter_ms
            else np.full_like(out, link.delay_ms, dtype=float)
        )
        lost = rng.binomial(segments.astype(np.int64), link.loss) if link.loss else 0.0
    return out + delay + lost * link.penalty_ms, last + 1


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise InvalidValueError("direction", direction, "'up' or 'down'")
    return direction
