"""Quantization on the agents zoo's tiny models and real-size shapes, and the ecc hand-off."""

import pytest
import torch

from agents.staged import run_all_stages
from agents.zoo import TINY_SHAPES, build_model, get_shape, random_inputs, random_model
from ecc.cost import resolve_precisions
from ecc.trace import build_trace
from quantization.apply import quantize_model
from quantization.calib_batches import CalibrationBatches
from quantization.linear import quant_linears, set_act_bits
from quantization.memory import model_memory_bytes
from quantization.precision import ecc_precision_map, precision_map

torch.set_num_threads(1)

W4 = {"name": "w4a16", "weight_bits": 4, "act_bits": 16, "group_size": 32}


def _model(name):
    return random_model(name)


def _inputs(model, batch=1, seed=1):
    return random_inputs(model.shape, batch=batch, seed=seed)


@pytest.mark.parametrize("name", TINY_SHAPES)
def test_tiny_zoo_quantizes_and_staged_still_matches(name):
    model = _model(name)
    x = _inputs(model)
    cfg = {**W4, "high_bits": 32}
    predicted = model_memory_bytes(build_model(name, "meta"), cfg).total
    with torch.no_grad():
        ref_out = model(x)
        rep = quantize_model(model, cfg)
        q_out = model(x)
        staged = run_all_stages(model, x)["actions"]
    ref, q = ref_out["actions"], q_out["actions"]
    # openvla's actions are bin centres: W4 may leave every argmax bin as it was, not the logits
    raw = "token_logits" if "token_logits" in q_out else "actions"
    assert rep.num_layers > 10
    groups = {v["group"] for v in rep.layers.values()}
    assert {"vision", "projector", "llm"} <= groups
    assert "action_head" not in groups  # kept high precision by default
    assert not any("lm_head" in n or "embed" in n for n in rep.layers)
    assert predicted == sum(
        t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]
    )
    assert (q - staged).abs().max().item() <= 1e-5
    assert q.shape == ref.shape
    assert not torch.equal(q_out[raw], ref_out[raw])


def test_openvla_tiny_w8a8_and_smoothquant_calibrate_on_frames():
    model = _model("openvla-tiny")
    frames = [_inputs(model, seed=s) for s in range(3)]
    rep = quantize_model(
        model,
        {"name": "smoothquant", "weight_bits": 8, "act_bits": 8},
        CalibrationBatches(batches=frames),
    )
    assert any(m.input_scale is not None for m in quant_linears(model))
    assert set_act_bits(model, 4) == rep.num_layers


def test_real_size_openvla_memory_on_meta():
    meta = build_model(get_shape("openvla-7b"), "meta")
    bf16 = model_memory_bytes(meta, {"name": "none", "weight_bits": 16, "act_bits": 16})
    assert bf16.params == pytest.approx(7_541_237_184, rel=0.01)
    w4 = model_memory_bytes(meta, {"name": "dyq", "weight_bits": 4, "group_size": 128})
    ratio = w4.total / bf16.total
    # LLM + towers at INT4 (g128), embeddings / LM head / norms at BF16.
    assert 0.25 < ratio < 0.40, ratio
    assert w4.groups["llm"].weight > 0
    # int4pack layout: one bf16 (scale, zero) pair per 128 weights = 4 bytes / 128 weights.
    assert w4.groups["llm"].scale == w4.groups["llm"].weight * 2 // 128 * 4
    rowmajor = model_memory_bytes(
        meta, {"name": "dyq", "weight_bits": 4, "group_size": 128}, layout="rowmajor"
    )
    assert rowmajor.groups["llm"].scale * 2 == w4.groups["llm"].scale


def test_ecc_precision_map_is_accepted_by_cost_model():
    trace = build_trace("openvla-tiny")
    pm = precision_map({"name": "w8a8", "weight_bits": 8, "act_bits": 8})
    emap = ecc_precision_map(trace.stages, pm)
    precs = resolve_precisions(trace, emap)
    by_name = dict(zip([s.name for s in trace.stages], precs))
    assert by_name["llm.prefill.layer0.mlp_up"] == "w8a8"
    assert by_name["llm.decode.t1.layer0.attn_norm"] == "bf16"
    assert by_name["llm.embed"] == "bf16"
    assert by_name["vision.dino.block0.attn"] == "w8a8"
    dyq = ecc_precision_map(trace.stages, precision_map({"name": "dyq", "weight_bits": 4}), 16)
    assert dyq["llm.prefill.layer1.attn"] == "w4a16"
    assert (
        ecc_precision_map(trace.stages, precision_map({"name": "dyq", "weight_bits": 4}), 8)[
            "llm.prefill.layer1.attn"
        ]
        == "w4a8"
    )
    # The cost model prices these: W8A8 stages faster than BF16 on an int8-capable profile.
    from ecc.cost import stage_times_ms
    from ecc.hardware import load_profile

    hw = load_profile("orin_agx_64gb")
    t_q = stage_times_ms(trace, hw, emap)
    t_bf = stage_times_ms(trace, hw, "bf16")
    assert t_q.sum() < t_bf.sum()


@pytest.mark.parametrize("conf", ["w4a16", "dyq", "w8a8", "w4a4"])
def test_conf_files_apply_to_tiny_zoo(conf):
    from pathlib import Path

    from omegaconf import OmegaConf

    root = Path(__file__).resolve().parents[2]
    cfg = OmegaConf.load(root / "conf" / "quantization" / f"{conf}.yaml")
    model = _model("openvla-tiny")
    x = _inputs(model)
    with torch.no_grad():
        ref = model(x)["actions"]
        rep = quantize_model(model, cfg)
        out = model(x)["actions"]
    assert rep.num_layers > 10
    assert out.shape == ref.shape
    assert torch.isfinite(out).all()
