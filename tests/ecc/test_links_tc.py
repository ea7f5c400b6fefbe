"""Qdisc parameter construction and the netlink messages pyroute2 builds from them (no root)."""

from __future__ import annotations

import pytest

from ecc.links import LinkConfigError, TbfSettings
from ecc.links.tc import netem_parameters, tbf_parameters, wire_factor


def _encode_qdisc(kind: str, index: int, params: dict) -> object:
    """Build and encode the RTM_NEWQDISC message IPRoute.tc('replace', ...) sends, then decode it."""
    from pyroute2.iproute.linux import get_arguments_processor
    from pyroute2.netlink.rtnl.tcmsg import tcmsg

    proc = get_arguments_processor(
        "tc", "replace", {"kind": kind, "index": index, "handle": "1:", **params}
    )
    msg = tcmsg()
    msg["header"]["type"] = 36  # RTM_NEWQDISC
    for field in msg.fields:
        msg[field[0]] = proc.get_value(field[0], default=0, mode="field")
    for key, value in proc.items():
        nla = tcmsg.name2nla(key)
        if msg.valid_nla(nla) and value is not None:
            msg["attrs"].append([nla, value])
    msg.encode()
    out = tcmsg(msg.data)
    out.decode()
    return out


def test_tbf_goodput_correction_and_buffers() -> None:
    p = tbf_parameters(20e6)
    assert p["rate"] == f"{round(20e6 * 1514 / 1448)}bit"
    assert p["burst"] >= 2 * 1514
    assert p["limit"] >= 2 * 2**20
    raw = tbf_parameters(20e6, TbfSettings(count_headers=True))
    assert raw["rate"] == "20000000bit"
    big = tbf_parameters(1e9, TbfSettings(burst_ms=2.0, queue_ms=500))
    assert big["burst"] == int(1e9 * wire_factor(1500) / 8 * 2e-3)
    assert big["limit"] == int(1e9 * wire_factor(1500) / 8 * 0.5) + big["burst"]


def test_tbf_message_fields() -> None:
    msg = _encode_qdisc("tbf", 7, tbf_parameters(100e6))
    assert msg["index"] == 7
    assert msg["handle"] == 0x10000
    assert msg.get_attr("TCA_KIND") == "tbf"
    parms = msg.get_attr("TCA_OPTIONS").get_attr("TCA_TBF_PARMS")
    assert parms["rate"] == round(100e6 * wire_factor(1500) / 8)  # bytes/s
    assert parms["limit"] == tbf_parameters(100e6)["limit"]


def test_netem_message_fields() -> None:
    params = netem_parameters(delay_ms=25.0, jitter_ms=5.0, loss=0.01, rate_bps=20e6)
    assert params["delay"] == 25_000
    assert params["jitter"] == 5_000
    assert params["loss"] == pytest.approx(1.0)
    msg = _encode_qdisc("netem", 3, params)
    assert msg.get_attr("TCA_KIND") == "netem"
    opts = msg.get_attr("TCA_OPTIONS")
    assert opts["limit"] == 10_000
    assert opts["loss"] == pytest.approx(0.01 * 2**32, rel=1e-6)
    assert opts["delay"] > opts["jitter"] > 0  # kernel ticks, proportional to us
    assert opts["delay"] == 5 * opts["jitter"]
    rate = opts.get_attr("TCA_NETEM_RATE")
    assert rate["rate"] == round(20e6 * wire_factor(1500) / 8)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"delay_ms": -1}, "delay_ms"),
        ({"jitter_ms": float("nan")}, "jitter_ms"),
        ({"loss": 1.0}, "loss"),
        ({"rate_bps": 0.0}, "rate_bps"),
        ({"limit_packets": 0}, "limit_packets"),
    ],
)
def test_netem_rejects_bad_values(kwargs: dict, field: str) -> None:
    with pytest.raises(LinkConfigError, match=field) as exc:
        netem_parameters(**kwargs)
    assert exc.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mtu": 100}, "tbf.mtu"),
        ({"burst_ms": 0}, "tbf.burst_ms"),
        ({"queue_ms": -5}, "tbf.queue_ms"),
    ],
)
def test_tbf_settings_reject_bad_values(kwargs: dict, field: str) -> None:
    with pytest.raises(LinkConfigError, match=field):
        TbfSettings(**kwargs)
    with pytest.raises(LinkConfigError, match="rate_bps"):
        tbf_parameters(float("inf"))
