"""The pure user-space link (no root): rate, delay, jitter, loss, live changes and trace replay."""

from __future__ import annotations

import socket
import statistics
import threading
import time

import pytest

from ecc.links import LinkConfig, LinkConfigError, StepSchedule, TraceRunner
from ecc.links.base import Link
from ecc.links.measure import one_way_transfer_s
from ecc.links.userspace import UserspaceLink


def _rtts_ms(link: Link, n: int, size: int = 64) -> list[float]:
    """Round-trip times (ms) of ``n`` small echoes through the link."""
    srv = link.listen()
    addr = link.expose(srv.getsockname()[:2])

    def echo() -> None:
        conn, _ = srv.accept()
        while data := conn.recv(1 << 16):
            conn.sendall(data)
        conn.close()

    threading.Thread(target=echo, daemon=True).start()
    cl = link.edge_socket()
    cl.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cl.connect(addr)
    out = []
    for _ in range(n + 1):  # the first exchange also waits for the relay's upstream connect
        t0 = time.perf_counter()
        cl.sendall(b"p" * size)
        got = 0
        while got < size:
            got += len(cl.recv(size - got))
        out.append((time.perf_counter() - t0) * 1e3)
    cl.close()
    srv.close()
    return out[1:]


@pytest.mark.timing  # wall-clock rates and delays (python -m pytest -m timing)
def test_transfer_time_matches_rate_plus_delay() -> None:
    cfg = LinkConfig(kind="userspace", up_mbps=20, down_mbps=20, delay_ms=10)
    with UserspaceLink(cfg) as link:
        t = one_way_transfer_s(link, 400_000)
    expected = 400_000 * 8 / 20e6 + 0.010
    assert t == pytest.approx(expected, rel=0.08)


def _mad(xs: list[float]) -> float:
    """Median absolute deviation: a spread that one scheduling hiccup on a loaded box cannot inflate."""
    m = statistics.median(xs)
    return statistics.median(abs(x - m) for x in xs)


@pytest.mark.timing  # wall-clock rates and delays (python -m pytest -m timing)
def test_delay_and_jitter() -> None:
    with UserspaceLink(LinkConfig(kind="userspace", delay_ms=15)) as link:
        rtts = _rtts_ms(link, 15)
        assert 29.5 < statistics.median(rtts) < 36
        assert _mad(rtts) < 1.5
        link.set_delay(15, jitter_ms=6)
        jittery = _rtts_ms(link, 30)
    # Two directions of N(0, 6 ms) jitter: RTT spread ~8.5 ms std, MAD ~5.7 ms.
    assert _mad(jittery) > 2.5
    assert _mad(jittery) > _mad(rtts) + 1.5


def test_loss_costs_retransmission_time() -> None:
    cfg = LinkConfig(kind="userspace", delay_ms=2, loss=0.5, loss_penalty_ms=20, seed=3)
    with UserspaceLink(cfg) as link:
        rtts = _rtts_ms(link, 30)
    # Each direction loses its one segment half the time: +20 ms on average per direction.
    assert statistics.mean(rtts) > 4 + 12


@pytest.mark.timing  # wall-clock rates and delays (python -m pytest -m timing)
def test_live_rate_change_applies() -> None:
    with UserspaceLink(LinkConfig(kind="userspace", up_mbps=100)) as link:
        fast = one_way_transfer_s(link, 250_000)
        link.set_rate(10e6, 10e6)
        slow = one_way_transfer_s(link, 250_000)
    assert fast == pytest.approx(0.020, rel=0.25)
    assert slow == pytest.approx(0.200, rel=0.08)


def test_invalid_values_raise_and_leave_link_unchanged() -> None:
    with UserspaceLink() as link:
        with pytest.raises(LinkConfigError, match="loss") as exc:
            link.set_loss(1.5)
        assert exc.value.field == "loss"
        assert link.params.loss == 0.0
        with pytest.raises(LinkConfigError, match="up_bps"):
            link.set_rate(-1, 10e6)
        with pytest.raises(LinkConfigError, match="delay_ms"):
            link.set_delay(float("nan"))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "carrier-pigeon"}, "link.kind"),
        ({"up_mbps": 0}, "link.up_mbps"),
        ({"trace_hz": 0.1}, "link.trace_hz"),
        ({"cloud_ip": "8.8.8.8"}, "cloud_ip"),
    ],
)
def test_link_config_rejects(kwargs: dict, field: str) -> None:
    with pytest.raises(LinkConfigError, match=field):
        LinkConfig(**kwargs)


def test_link_config_from_mapping() -> None:
    cfg = LinkConfig.from_mapping({"kind": "userspace", "up_mbps": 5, "tbf": {"mtu": 9000}})
    assert cfg.tbf.mtu == 9000
    assert cfg.up_mbps == 5
    with pytest.raises(LinkConfigError, match="bogus"):
        LinkConfig.from_mapping({"bogus": 1})


class _RecordingLink(UserspaceLink):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[float, float, float]] = []
        self.t0 = time.monotonic()

    def set_rate(self, up_bps: float, down_bps: float) -> None:
        self.calls.append((time.monotonic() - self.t0, up_bps, down_bps))


def test_trace_runner_applies_steps_in_order() -> None:
    sched = StepSchedule([(0.0, 50e6, 50e6), (0.2, 10e6, 20e6), (0.4, 50e6, 50e6)])
    with _RecordingLink() as link:
        runner = link.apply_trace(sched, hz=20)
        deadline = time.monotonic() + 10
        while len(link.calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop()
    assert [c[1:] for c in link.calls] == [(50e6, 50e6), (10e6, 20e6), (50e6, 50e6)]
    for (t, *_), step in zip(link.calls[1:], (0.2, 0.4)):
        assert t >= step  # never early; how late is the timing test's business


@pytest.mark.timing  # within one tick of schedule (python -m pytest -m timing)
def test_trace_runner_applies_steps_promptly() -> None:
    sched = StepSchedule([(0.0, 50e6, 50e6), (0.2, 10e6, 20e6), (0.4, 50e6, 50e6)])
    assert sched(0.25) == (10e6, 20e6)
    with _RecordingLink() as link:
        runner = link.apply_trace(sched, hz=20)
        time.sleep(0.6)
        runner.stop()
    assert [c[1:] for c in link.calls] == [(50e6, 50e6), (10e6, 20e6), (50e6, 50e6)]
    for (t, *_), step in zip(link.calls[1:], (0.2, 0.4)):
        assert step <= t < step + 0.05 + 0.03  # one 50 ms tick plus scheduling slack


def test_trace_runner_rejects_slow_rate() -> None:
    with UserspaceLink() as link, pytest.raises(LinkConfigError, match="hz"):
        TraceRunner(link, lambda t: (1e6, 1e6), hz=0.5)
    with pytest.raises(LinkConfigError, match="steps"):
        StepSchedule([(1.0, 1e6, 1e6)])


class _Trace:
    """Duck-typed bandwidth trace (Mbit/s), as ecc.network.traces.BandwidthTrace provides."""

    def at(self, t_s: float) -> float:
        return 0.0 if 1.0 <= t_s < 2.0 else 40.0


def test_trace_schedule_from_bandwidth_traces() -> None:
    from ecc.links import trace_schedule

    sched = trace_schedule(_Trace(), 80.0)
    assert sched(0.5) == (40e6, 80e6)
    assert sched(1.5) == (8e3, 80e6)  # an outage becomes a trickle, not an invalid 0 bit/s
    with pytest.raises(LinkConfigError, match="floor_bps"):
        trace_schedule(_Trace(), 1.0, floor_bps=0)


def test_auto_falls_back_to_userspace_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    import ecc.links.netns
    import ecc.links.select as select

    monkeypatch.setattr(ecc.links.netns.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(select.os, "geteuid", lambda: 1000)
    select.namespaces_available.cache_clear()
    select.netem_available.cache_clear()
    try:
        link, kind = select.best_available(LinkConfig(kind="auto"))
        with link:
            assert kind == "userspace"
            assert "not root" in link.describe()["fallback_reason"]
        with pytest.raises(select.LinkUnavailable, match="root"):
            select.best_available(LinkConfig(kind="tbf_userspace"))
    finally:
        select.namespaces_available.cache_clear()
        select.netem_available.cache_clear()


def test_relay_refuses_non_local_targets() -> None:
    with UserspaceLink() as link:
        with pytest.raises(LinkConfigError, match="server_addr"):
            link.expose(("192.0.2.1", 80))
        with pytest.raises(LinkConfigError, match="server_addr"):
            link.expose(("example.com", 80))
