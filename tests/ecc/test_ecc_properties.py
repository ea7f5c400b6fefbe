"""Property tests of the cost model over random links and cuts (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ecc.cost import Partition, latency_breakdown
from ecc.cuts import cut_costs
from ecc.hardware import load_profile
from ecc.network.link import LinkState
from ecc.trace import build_trace

TRACE = build_trace("pi0", granularity="block")
EDGE, CLOUD = load_profile("orin_nx_16gb"), load_profile("l4")
COSTS = {d: cut_costs(TRACE, EDGE, CLOUD, direction=d) for d in ("edge_prefix", "cloud_prefix")}

links = st.builds(
    LinkState,
    up_mbps=st.floats(0.1, 1000),
    down_mbps=st.floats(0.1, 1000),
    delay_ms=st.floats(0, 200),
    loss=st.floats(0, 0.2),
)


@settings(max_examples=60, deadline=None)
@given(
    link=links,
    cut=st.integers(0, TRACE.n_units),
    direction=st.sampled_from(["edge_prefix", "cloud_prefix"]),
)
def test_breakdown_invariants(link, cut, direction):
    bd = latency_breakdown(TRACE, Partition.single_cut(TRACE, cut, direction), EDGE, CLOUD, link)
    assert bd.total_ms >= bd.edge_ms + bd.cloud_ms
    assert np.isclose(bd.total_ms, COSTS[direction].latency_ms(link)[cut])
    # Every round trip that leaves the edge comes back (the actions end on the edge).
    assert bd.msgs_up == bd.msgs_down
    if bd.msgs_up == 0:
        assert bd.cloud_ms == 0


@settings(max_examples=40, deadline=None)
@given(link=links, factor=st.floats(1.01, 10))
def test_more_bandwidth_never_hurts(link, factor):
    c = COSTS["edge_prefix"]
    slow = c.latency_ms(link)
    fast = c.latency_ms(link.with_bandwidth(link.up_mbps * factor, link.down_mbps * factor))
    assert np.all(fast <= slow + 1e-9)
    assert fast.min() <= slow.min() + 1e-9
