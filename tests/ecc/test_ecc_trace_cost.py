"""Trace construction, roofline, reference cost walk and its vectorised twin."""

import numpy as np
import pytest

from agents.shapes import ActionHeadShape, DecoderShape, ProjectorShape, ViTShape, VLAShape
from ecc.anchors import check_anchors
from ecc.cost import Partition, latency_breakdown, resolve_precisions, stage_times_ms
from ecc.cuts import cut_costs
from ecc.errors import EccError, UnknownNameError
from ecc.hardware import HardwareProfile, load_profile
from ecc.network.link import LinkState
from ecc.trace import build_trace

EDGE = HardwareProfile("e", "edge", {"fp32": 5, "bf16": 40, "int8": 80, "int4": 160}, 200, 64)
CLOUD = HardwareProfile(
    "c", "cloud", {"fp32": 19, "bf16": 312, "int8": 624, "int4": 1248}, 2000, 80
)


def test_openvla_trace_stage_names_and_decode_loop():
    tr = build_trace("openvla-7b", granularity="sublayer")
    names = [s.name for s in tr.stages]
    assert names[0] == "vision.dinov2.patch_embed"
    assert "llm.prefill.layer3.mlp_up" in names
    assert "llm.decode.t6.layer31.mlp_down" in names
    assert names[-1] == "llm.decode.t6.head"
    # KV length grows by one per decoded token.
    a1 = next(s for s in tr.stages if s.name == "llm.decode.t1.layer0.attn")
    a6 = next(s for s in tr.stages if s.name == "llm.decode.t6.layer0.attn")
    assert a6.act_read_elems > a1.act_read_elems
    # Decode stages share units (and weights) with prefill.
    p = next(s for s in tr.stages if s.name == "llm.prefill.layer0.attn")
    assert a1.unit == p.unit
    assert 7.0e9 < tr.total_params() < 8.0e9


def test_sublayer_and_block_traces_agree_on_totals():
    b = build_trace("cogact", granularity="block")
    s = build_trace("cogact", granularity="sublayer")
    assert np.isclose(b.total_flops(), s.total_flops())
    assert b.total_params() == s.total_params()
    assert s.n_cuts > 3 * b.n_cuts


def test_roboecc_in_block_payloads():
    """Boundary payloads inside a Llama block follow the RoboECC table (2 bytes/value)."""
    tr = build_trace("openvla-7b", granularity="sublayer")
    S, H, inter = tr.meta["prefix_tokens"], 4096, 11008
    cc = cut_costs(tr, EDGE, CLOUD, charge_io=False)
    up = cc.transfers.bytes_up

    def at(unit):
        return up[tr.cut_index(unit)]

    # Cut after the first prefill layer's sub-stages: prefill payload + per-token payloads.
    after_norm, after_attn = at("llm.layer3.attn_norm"), at("llm.layer3.attn")
    after_up, after_down = at("llm.layer3.mlp_up"), at("llm.layer3.mlp_down")
    n_tok = 7  # prefill + 6 decode tokens cross the cut
    assert after_attn == pytest.approx(2 * H * (S + 6))
    assert after_norm == pytest.approx(2 * 2 * H * (S + 6))
    assert after_up == pytest.approx(2 * (inter + H) * (S + 6))
    assert after_down == after_attn
    assert cc.transfers.msgs_up[tr.cut_index("llm.layer3.attn")] == n_tok


def test_vectorised_cut_costs_match_reference_walk():
    link = LinkState(20, 50, 5, loss=0.01)
    for arch in ("openvla-7b", "pi0"):
        tr = build_trace(arch, granularity="block")
        te, tc = stage_times_ms(tr, EDGE), stage_times_ms(tr, CLOUD)
        for direction in ("edge_prefix", "cloud_prefix"):
            for io in (True, False):
                cc = cut_costs(tr, EDGE, CLOUD, direction=direction, charge_io=io)
                lat = cc.latency_ms(link)
                for k in range(0, tr.n_cuts, 3):
                    bd = latency_breakdown(tr, Partition.single_cut(tr, k, direction), EDGE, CLOUD, link,
                                           charge_io=io, edge_times_ms=te, cloud_times_ms=tc)  # fmt: skip
                    assert bd.total_ms == pytest.approx(lat[k])
                    assert bd.bytes_up == cc.transfers.bytes_up[k]
                    assert bd.msgs_down == cc.transfers.msgs_down[k]
                    assert bd.edge_mem_bytes == pytest.approx(cc.edge_mem_bytes[k])


def test_cut_inside_decode_pays_round_trip_per_token():
    tr = build_trace("openvla-7b", granularity="block")
    link = LinkState(100, 100, 10)
    mid = Partition.single_cut(tr, tr.cut_index("llm.layer15"))
    bd = latency_breakdown(tr, mid, EDGE, CLOUD, link)
    assert bd.msgs_up == 7
    assert bd.msgs_down == 7
    assert bd.uplink_ms >= 7 * 10
    edge = latency_breakdown(tr, Partition.edge_only(tr), EDGE, CLOUD, link)
    assert edge.msgs_up == 0
    assert edge.bytes_up == 0
    assert edge.cloud_ms == 0
    cloud = latency_breakdown(tr, Partition.cloud_only(tr), EDGE, CLOUD, link)
    assert cloud.bytes_up == tr.inputs["images"] + tr.inputs["tokens"]
    assert cloud.bytes_down == 7 * 256 * 2  # the seven tokens' action-bin logits (bf16) come back
    no_io = latency_breakdown(tr, Partition.cloud_only(tr), EDGE, CLOUD, link, charge_io=False)
    assert no_io.bytes_up == 0
    assert no_io.msgs_up == 0
    assert no_io.edge_ms == 0


def test_precision_changes_weight_bytes_and_compute():
    tr = build_trace("openvla-7b", granularity="block")
    bf = stage_times_ms(tr, EDGE, "bf16").sum()
    i4 = stage_times_ms(tr, EDGE, "int4").sum()
    assert i4 < 0.6 * bf  # decode is memory bound: ~4x fewer weight bytes
    precs = resolve_precisions(tr, {"default": "bf16", "llm.layer3": "int4"})
    assert {p for s, p in zip(tr.stages, precs) if s.name == "llm.decode.t2.layer3"} == {"int4"}
    assert precs[0] == "bf16"


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(UnknownNameError, match="granularity"):
        build_trace("openvla-7b", granularity="layer")
    with pytest.raises(UnknownNameError, match="hardware"):
        load_profile("tpu_v9")
    with pytest.raises(EccError, match="precision"):
        stage_times_ms(build_trace("pi0", granularity="block"), EDGE, "fp8")
    with pytest.raises(EccError, match="mem_eff"):
        HardwareProfile(
            "x", "edge", {"fp32": 1, "bf16": 1, "int8": 1, "int4": 1}, 1, 1, mem_eff=1.5
        )
    with pytest.raises(EccError, match="loss"):
        LinkState(1, 1, loss=1.0)


def test_block_trace_mirrors_zoo_stages():
    """Same stage names, reads and writes as the zoo's StagedModel, for every named shape."""
    from agents import zoo

    for name in zoo.list_shapes():
        shape = zoo.get_shape(name)
        specs = zoo.build_model(shape, "meta").stages()
        tr = build_trace(shape, granularity="block")
        assert [s.name for s in specs] == [s.name for s in tr.stages], name
        for spec, st in zip(specs, tr.stages):
            assert set(spec.reads) == set(st.reads), (name, spec.name)
            assert set(spec.writes) == {t for t, _ in st.writes}, (name, spec.name)


def test_custom_small_shape_traces():
    shape = VLAShape(
        "mini", "openvla", (ViTShape("v", 32, 8, 16, 2, 2, 32),), ProjectorShape(16, 32, 24),
        DecoderShape(24, 2, 2, 1, 48, vocab_size=50), ActionHeadShape("ar_tokens", action_dim=3), prompt_tokens=4,
    )  # fmt: skip
    tr = build_trace(shape, granularity="sublayer")
    assert tr.meta["prefix_tokens"] == 16 + 4
    assert sum(s.name.endswith(".head") for s in tr.stages) == 3


def test_published_anchors_within_30_percent():
    for r in check_anchors():
        assert r.ok, (r.anchor.name, r.predicted)


def test_sampled_breakdown_mean_matches_expected():
    from ecc.cost import sample_breakdown

    tr = build_trace("openvla-7b", granularity="block")
    link = LinkState(50, 50, 10, jitter_ms=3)
    bd = latency_breakdown(
        tr, Partition.single_cut(tr, tr.cut_index("llm.layer15")), EDGE, CLOUD, link
    )
    rng = np.random.default_rng(0)
    draws = [sample_breakdown(bd, link, rng).total_ms for _ in range(300)]
    assert np.mean(draws) == pytest.approx(bd.total_ms, rel=0.01)
    assert np.std(draws) > 1.0


def test_mixed_precision_schemes():
    """W4A16 reads int4 weights but computes at the bf16 peak; W4A4 at the int4 peak."""
    assert EDGE.weight_bytes_per_elem("w4a16") == EDGE.weight_bytes_per_elem("int4")
    assert EDGE.flops_per_s("w4a16") == EDGE.flops_per_s("bf16")
    assert EDGE.flops_per_s("w4a4") == EDGE.flops_per_s("int4")
    assert EDGE.weight_bytes_per_elem("w8a8") == 1.0
    tr = build_trace("openvla-7b", granularity="block")
    # Decode is weight-bandwidth bound: W4A16 is close to int4, far below bf16.
    assert stage_times_ms(tr, EDGE, "w4a16").sum() < 0.6 * stage_times_ms(tr, EDGE, "bf16").sum()
    with pytest.raises(UnknownNameError, match="w3a16"):
        stage_times_ms(tr, EDGE, "w3a16")
    with pytest.raises(UnknownNameError, match=r"precision\['llm'\]"):
        stage_times_ms(tr, EDGE, {"llm": "int3"})


def test_precision_map_matches_dotted_prefixes_only():
    tr = build_trace("openvla-7b", granularity="block")
    precs = dict(zip([s.name for s in tr.stages], resolve_precisions(tr, {"llm.layer1": "int8"})))
    assert precs["llm.prefill.layer1"] == "int8"
    assert precs["llm.decode.t2.layer1"] == "int8"
    assert precs["llm.prefill.layer10"] == "bf16"  # not a dotted child of llm.layer1
    exact = {s.name: "int4" for s in tr.stages}  # a full per-stage map stays fast
    assert set(resolve_precisions(tr, exact)) == {"int4"}
