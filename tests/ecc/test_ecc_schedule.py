"""Delivery schedules: Mahimahi-exact loading, delivery_time_s against a packet replay, the FIFO link."""

import bisect
import hashlib
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from ecc.cost import latency_breakdown
from ecc.errors import EccError
from ecc.network import FluidSchedule, delivery_time_s, load_mahimahi_schedule
from ecc.network.config import LinkTraces, Network
from ecc.network.link import LinkState
from ecc.network.schedule import load_mahimahi
from ecc.network.traces import BandwidthTrace, constant, step
from ecc.network.transfer import send_ms
from ecc.planners import RoboECCPlanner, make_context
from ecc.runtime.deployment import ModeledDeployment
from ecc.schedule_cost import cut_timelines, walk

TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces" / "mahimahi"
if not TRACES.is_dir():  # a worktree outside /work: the shared folder of the main checkout
    TRACES = Path("/work/shared/traces/mahimahi")
DEV = sorted(TRACES.glob("*.up")) + sorted(TRACES.glob("*.down"))
needs_traces = pytest.mark.skipif(not DEV, reason=f"no recorded Mahimahi traces in {TRACES}")


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_mahimahi_readme_examples(tmp_path):
    one = load_mahimahi_schedule(_write(tmp_path, "one", "1\n"))
    assert one.mean_mbps() == pytest.approx(12.0)
    assert one.period_ms == 1.0
    thousand = load_mahimahi_schedule(
        _write(tmp_path, "k", "\n".join(map(str, range(1, 1001))) + "\n")
    )
    assert thousand.mean_mbps() == pytest.approx(12.0)
    assert thousand.period_ms == 1000.0
    binned = load_mahimahi(tmp_path / "k")  # the binned view for plots agrees
    assert binned.mean_mbps() == pytest.approx(12.0)
    assert binned.duration_s == pytest.approx(1.0)
    assert np.allclose(binned.mbps, 12.0)


@needs_traces
@pytest.mark.parametrize("path", DEV, ids=lambda p: p.name)
def test_dev_trace_mean_is_packets_over_period(path):
    lines = path.read_text().split()
    expected = len(lines) * 1500 * 8 / int(lines[-1]) / 1e3  # Mbit/s
    sched = load_mahimahi_schedule(path)
    assert sched.mean_mbps() == pytest.approx(expected, rel=1e-3)
    assert sched.binned(100.0).mean_mbps() == pytest.approx(expected, rel=1e-3)
    assert sched.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("1\n\n2\n", ":2"),  # empty line
        ("1\nx\n", ":2"),  # not an integer
        ("1\n-3\n", ":2"),
        ("1\n2.5\n", ":2"),
        ("5\n3\n", ":2"),  # decreasing
        ("0\n0\n", ":2"),  # last timestamp 0
        ("", "empty file"),
        ("1\n86400001\n", ":2"),  # past the maximum period
        ("9999999999999", ":1"),
    ],
)
def test_loader_rejects_what_mahimahi_rejects(tmp_path, text, where):
    p = _write(tmp_path, "bad.trace", text)
    with pytest.raises(EccError) as e:
        load_mahimahi_schedule(p)
    assert "bad.trace" in str(e.value)
    assert where in str(e.value)


def test_huge_timestamp_costs_no_memory(tmp_path):
    p = _write(tmp_path, "huge", "9999999999999")  # 14 bytes; the old loader asked for 745 GiB
    tracemalloc.start()
    try:
        with pytest.raises(EccError, match="max_period_ms"):
            load_mahimahi_schedule(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6


def _replay_s(ops: list[int], period: int, nbytes: int, send_s: float) -> float:
    """Independent packet-by-packet replay of mm-link's schedule: the loops spelled out."""
    need = -(-nbytes // 1500)
    if need == 0:
        return 0.0
    times: list[int] = []
    loop = 0
    send_ms = send_s * 1e3
    while True:  # the opportunities of loop m are at m * period + line
        times.extend(loop * period + v for v in ops)
        i = bisect.bisect_left(times, send_ms)
        if len(times) - i >= need:
            return (times[i + need - 1] - send_ms) / 1e3
        loop += 1


@needs_traces
def test_delivery_time_equals_packet_replay():
    rng = np.random.default_rng(0)
    files = {p: [int(x) for x in p.read_text().split()] for p in DEV}
    scheds = {p: load_mahimahi_schedule(p) for p in DEV}
    worst = 0.0
    for _ in range(1000):
        p = DEV[int(rng.integers(len(DEV)))]
        ops = files[p]
        size = int(np.exp(rng.uniform(0, np.log(2e6))))
        send = float(rng.uniform(0, 2.5 * ops[-1] / 1e3))
        if rng.random() < 0.1:
            send = float(rng.choice(ops[:50])) / 1e3  # exactly on an opportunity
        got = delivery_time_s(scheds[p], size, send)
        worst = max(worst, abs(got - _replay_s(ops, ops[-1], size, send)))
    assert worst < 1e-3


@needs_traces
def test_path_and_vector_forms_agree():
    path = TRACES / "Verizon-LTE-short.up"
    sizes = np.array([1, 1500, 1501, 150_784, 2_000_000])
    sends = np.array([0.0, 0.5, 139.999, 140.0, 300.2])
    vec = delivery_time_s(str(path), sizes, sends)
    one = [delivery_time_s(path, int(b), float(t)) for b, t in zip(sizes, sends)]
    assert np.allclose(vec, one)
    assert delivery_time_s(path, 0, 3.0) == 0.0


@needs_traces
def test_upload_in_an_empty_bin_costs_what_the_schedule_says():
    up = TRACES / "ATT-LTE-driving.up"
    sched = load_mahimahi_schedule(up)
    bins = sched.binned(100.0)
    empty = np.flatnonzero(bins.mbps == 0)
    assert len(empty) > 0.1 * len(bins.mbps)  # the recorded uplink is bursty
    t = empty * 0.1
    dt = delivery_time_s(sched, 150_784, t)
    ops = [int(x) for x in up.read_text().split()]
    assert np.allclose(dt[:20], [_replay_s(ops, ops[-1], 150_784, s) for s in t[:20]], atol=1e-3)
    # never the binned price (1,210,625 ms); the recorded uplink has a 78 s outage, so an upload
    # starting inside it waits for its end, and one in an isolated empty bin costs seconds
    assert dt.max() < 80.0
    assert dt[0] < 5.0  # the first empty bin (0.1 s): about 2 s
    # the simulated runtime prices it the same way: cloud-only upload of the image
    link = LinkState(1.0, 5.0, delay_ms=0.0, jitter_ms=0.0, loss=0.0, overhead_bytes=0,
                     overhead_ms=0.0)  # fmt: skip
    net = Network(link, {"up": str(up), "down": str(TRACES / "ATT-LTE-driving.down")})
    ctx = make_context("openvla-7b", "orin_agx_64gb", "a100_80gb", granularity="block")
    dep = ModeledDeployment(ctx, RoboECCPlanner(), net, jitter=False)
    timing = dep.charge(float(t[0]), 0.0, target="cloud")
    assert timing.bytes_up == 150_784
    assert timing.breakdown_ms["uplink_ms"] == pytest.approx(dt[0] * 1e3, abs=1e-6)


def test_fluid_schedule_of_a_synthetic_trace():
    c = FluidSchedule(constant(12.0, 10.0))  # one packet per ms
    assert delivery_time_s(c, 15_000, 0.0) == pytest.approx(0.010)  # opportunities at 1..10 ms
    assert delivery_time_s(c, 15_000, 1.0) == pytest.approx(0.009)  # 1000 ms is one of them
    assert c.mean_mbps() == pytest.approx(12.0)
    on_off = BandwidthTrace(np.array([0.0, 1.0]), np.array([12.0, 0.0]), 1.0)
    s = FluidSchedule(on_off)  # 1 s on, 1 s off, looping every 2 s
    # 3000 packets of credit need 3 s of "on": sent at 0 it finishes in the third on-second
    assert delivery_time_s(s, 3000 * 1500, 0.0) == pytest.approx(5.0)
    # sent in the outage it waits for the link to return, not for 0 Mbit/s
    assert delivery_time_s(s, 1500, 1.5) == pytest.approx(0.501)


def test_fifo_queues_messages_behind_each_other():
    link = LinkState(12.0, 12.0, delay_ms=5.0, jitter_ms=0.0, loss=0.0, overhead_bytes=0,
                     overhead_ms=0.0)  # fmt: skip
    sched = FluidSchedule(constant(12.0, 60.0))
    a1, f1 = send_ms(link, sched, np.array([15_000.0]), np.array([0.0]), np.array([0]))
    a2, _ = send_ms(link, sched, np.array([15_000.0]), np.array([0.0]), f1)
    assert a1[0] == pytest.approx(10.0 + 5.0)
    assert a2[0] == pytest.approx(20.0 + 5.0)  # waited behind the first message's 10 packets
    alone, _ = send_ms(link, sched, np.array([15_000.0]), np.array([0.0]), np.array([0]))
    assert alone[0] == pytest.approx(a1[0])


def test_walk_matches_the_cost_model_on_a_constant_link():
    ctx = make_context("openvla-7b", "orin_agx_64gb", "a100_80gb", granularity="block")
    link = LinkState(20.0, 80.0, delay_ms=10.0, jitter_ms=0.0, loss=0.0)
    traces = LinkTraces(FluidSchedule(constant(20.0, 60.0)), FluidSchedule(constant(80.0, 60.0)))
    tl = cut_timelines(ctx)
    w = walk(tl, link, traces, 0.0, (np.zeros(tl.up.shape[0]), np.zeros(tl.up.shape[0])))
    for cut in (0, 5, tl.up.shape[0] // 2, tl.up.shape[0] - 1):
        bd = latency_breakdown(ctx.trace, ctx.partition(cut), ctx.edge, ctx.cloud, link,
                               charge_io=ctx.charge_io)  # fmt: skip
        n_msgs = bd.msgs_up + bd.msgs_down
        # packets are whole (up to 1 packet more per message) and the first opportunity may
        # come up to 1 packet time later or earlier (credit accrued before the send)
        pkt_ms = 1500 * 8 / 20e3
        assert bd.total_ms - n_msgs * pkt_ms - 1e-6 <= w.total_ms[cut]
        assert w.total_ms[cut] <= bd.total_ms + n_msgs * 2 * pkt_ms + 1e-6


@needs_traces
def test_network_describes_both_files():
    up, down = TRACES / "TMobile-UMTS-driving.up", TRACES / "TMobile-UMTS-driving.down"
    net = Network(LinkState(1.0, 2.0), {"up": str(up), "down": str(down)})
    d = net.describe()["trace"]
    assert d["up"]["path"] == str(up)
    assert d["down"]["sha256"] == hashlib.sha256(down.read_bytes()).hexdigest()
    assert d["down"]["mean_mbps"] == pytest.approx(2.02, abs=0.01)
    assert net.link_at(10.0).down_mbps != net.link_at(10.0).up_mbps * 2.0  # not derived from up
    with pytest.raises(EccError, match=r"network\.trace"):
        Network(LinkState(1.0, 2.0), {"up": str(up)})


def test_an_aborted_upload_stays_queued():
    link = LinkState(50.0, 200.0, 10.0, 0.0, 0.0)
    net = Network(link, step([100.0, 0.5], 10.0, 60.0))  # collapses from 10 s to 20 s
    ctx = make_context("openvla-7b", "orin_agx_64gb", "a100_80gb", granularity="block")
    dep = ModeledDeployment(ctx, RoboECCPlanner(fallback_factor=3.0), net, jitter=False)
    dep.charge(0.0, 0.0)  # good link: cloud-heavy cut
    t = dep.charge(11.0, 0.0)  # collapsed: the deadline fires
    assert t.fallback
    abort_ms = 11_000.0 + t.total_ms
    # the abandoned image still holds uplink opportunities past the abort (a real queue)
    assert dep.queues.up > int(net.trace.up.count_before(np.array([abort_ms]))[0])
