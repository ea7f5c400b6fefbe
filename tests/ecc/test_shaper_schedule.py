"""The user-space shaper replays delivery schedules (issue 20 item 4): its FIFO against
``ecc.network.delivery_time_s``, then real transfers over loopback and through namespaces."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest

from ecc.links import LinkConfig, trace_schedule
from ecc.links.measure import scheduled_transfer_s
from ecc.links.replay import DeliveryClock, ScheduleRates
from ecc.links.select import namespaces_available
from ecc.links.userspace import UserspaceLink
from ecc.network import MahimahiSchedule, delivery_time_s, load_mahimahi_schedule

TRACES = Path("/work/shared/traces/mahimahi")  # the dev traces (skipped where absent)
VERIZON_UP = TRACES / "Verizon-LTE-short.up"
needs_traces = pytest.mark.skipif(not VERIZON_UP.is_file(), reason=f"no dev traces at {TRACES}")


def _gated(rate_per_ms: int = 1) -> MahimahiSchedule:
    """Period 400 ms: nothing in [0, 200) ms, then ``rate_per_ms`` opportunities every ms."""
    ops = np.repeat(np.arange(200, 401), rate_per_ms)
    return MahimahiSchedule(ops, name="gated")


@needs_traces
def test_idle_clock_matches_delivery_time_s() -> None:
    sched = load_mahimahi_schedule(VERIZON_UP)
    rng = np.random.default_rng(3)
    for _ in range(300):
        nbytes = int(rng.integers(1, 3_000_000))
        send_s = float(rng.uniform(0, 300))  # past one period (140 s): the loop counts too
        clock = DeliveryClock(sched, epoch=0.0)
        assert clock.take(nbytes, send_s) - send_s == pytest.approx(
            float(delivery_time_s(sched, nbytes, send_s)), abs=1e-9
        )


def test_fifo_queues_behind_earlier_bytes_and_wastes_passed_opportunities() -> None:
    sched = _gated()
    clock = DeliveryClock(sched, epoch=0.0)
    first = clock.take(2000, 0.0)  # 2 opportunities, the second half full
    assert first == pytest.approx(0.201)
    # 1000 more bytes fill the half-used opportunity at 201 ms; 1 byte more takes the next
    assert clock.take(1000, 0.0) == pytest.approx(0.201)
    assert clock.take(1, 0.0) == pytest.approx(0.202)
    # together: exactly the schedule's time for the whole 3001 bytes sent at once
    assert clock.take(1, 0.0) == pytest.approx(0.202)
    assert pytest.approx(float(delivery_time_s(sched, 3002, 0.0))) == 0.202
    # after an idle gap the unused opportunities are gone: priced from the new arrival
    assert clock.take(1500, 0.3005) == pytest.approx(0.301)
    assert clock.idle_at() == pytest.approx(0.301)


def test_trace_schedule_of_schedules_replays_them_and_a_rate_ends_it() -> None:
    up, down = _gated(), _gated(2)
    rates = trace_schedule(up, down)
    assert isinstance(rates, ScheduleRates)
    assert rates(0.25) == (up.at(0.25) * 1e6, down.at(0.25) * 1e6)  # binned, for rate-only links
    with UserspaceLink(LinkConfig(kind="userspace")) as link:
        assert link.apply_trace(rates) is None  # no rate thread: the relay's clocks replay it
        assert link.params.up_clock.schedule is up
        assert link.params.down_clock.schedule is down
        desc = link.describe()
        assert "delivery schedules" in desc["trace_replay"]
        assert desc["schedules"]["up"]["name"] == "gated"
        link.set_rate(10e6, 10e6)
        assert link.params.up_clock is None
        assert link.clocks == {}


@pytest.mark.parametrize("direction", ["up", "down"])
def test_loopback_transfer_follows_the_schedule_not_its_mean(direction: str) -> None:
    """150,784 B (101 opportunities) sent at ~391 ms (9 before the next 200 ms outage) and ~251 ms.

    The handshake takes the first opportunity after the offset, the send the next ms. The
    schedule says ~301 ms and ~101 ms; a shaper at the mean rate (6 Mbit/s) would take
    ~201 ms for both (ratios 0.67 and 2.0). Tolerance: the relay cannot deliver before an
    opportunity, so only clock-reading noise can put a ratio below 1 (0.97 allows it); above
    1 the cost is thread wake-ups and loopback copies, a few ms here and tens of ms on a
    loaded 2-core box (0.3 of the 101 ms case).
    """
    sched = _gated()
    cases = []
    with UserspaceLink(LinkConfig(kind="userspace")) as link:
        for offset_s, want_s in ((0.39, 0.301), (0.25, 0.101)):
            # A handshake slowed by a busy machine can push the send past the outage it was
            # aimed before; the ratio below holds wherever it lands, but the comparison of the
            # two cases needs each where its offset puts it, so such a try is repeated.
            for _ in range(5):
                link.set_schedules(sched, sched, offset_s=offset_s)
                send_s, took_s = scheduled_transfer_s(link, 150_784, direction, timeout_s=20)
                expected = float(delivery_time_s(sched, 150_784, send_s))
                assert 0.97 <= took_s / expected <= 1.3, (send_s, took_s, expected)
                if expected == pytest.approx(want_s, abs=0.02):
                    break
            cases.append((send_s, took_s, expected))
    # the send times are where the offsets put them (each waits only for its handshake)
    assert cases[0][2] > 2 * cases[1][2]


@pytest.mark.root
@needs_traces
def test_namespaced_replay_matches_delivery_time_s() -> None:
    """Acceptance 4 in small: through network namespaces (tbf_userspace, bytes across a veth),
    the median emulated / delivery_time_s ratio over 50 KB-1 MB on a dev uplink is within 5%."""
    ok, why = namespaces_available()
    if not ok:
        pytest.skip(f"network namespaces unavailable: {why}")
    from ecc.links.tbf_userspace import TbfUserspaceLink  # root only: builds namespaces

    sched = load_mahimahi_schedule(VERIZON_UP)
    rng = np.random.default_rng(0)
    ratios = []
    with TbfUserspaceLink(LinkConfig(kind="tbf_userspace")) as link:
        for nbytes in (50_000, 200_000, 1_000_000):
            for _ in range(2):
                link.set_schedules(sched, sched, offset_s=float(rng.uniform(0, 120)))
                send_s, took_s = scheduled_transfer_s(link, nbytes, "up", timeout_s=60)
                ratios.append(took_s / float(delivery_time_s(sched, nbytes, send_s)))
    assert abs(statistics.median(ratios) - 1) <= 0.05, ratios
    assert min(ratios) >= 0.97, ratios
