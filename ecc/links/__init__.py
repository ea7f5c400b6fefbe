"""Emulated edge-cloud links with one interface: netem, kernel TBF + user-space delay, user space.

from ecc.links import LinkConfig, best_available
link, kind = best_available(LinkConfig(up_mbps=20, down_mbps=50, delay_ms=10))
"""

from ecc.links.base import (
    LINK_KINDS,
    Link,
    LinkConfig,
    RateSchedule,
    StepSchedule,
    TraceRunner,
    trace_schedule,
)
from ecc.links.errors import LinkConfigError, LinkError, LinkUnavailable
from ecc.links.select import best_available, namespaces_available, netem_available
from ecc.links.tc import TbfSettings

__all__ = [
    "LINK_KINDS",
    "Link",
    "LinkConfig",
    "LinkConfigError",
    "LinkError",
    "LinkUnavailable",
    "RateSchedule",
    "StepSchedule",
    "TbfSettings",
    "TraceRunner",
    "best_available",
    "namespaces_available",
    "netem_available",
    "trace_schedule",
]
