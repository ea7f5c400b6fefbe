"""quantize_model, module selection, memory accounting and precision maps."""

import pytest
import torch
from torch import nn

from agents.staged import StageSpec
from quantization.apply import quantize_model
from quantization.calib_batches import CalibrationBatches
from quantization.config import method_config
from quantization.errors import CalibrationError, QuantConfigError
from quantization.linear import QuantLinear
from quantization.memory import measure_peak_rss, model_memory_bytes
from quantization.precision import precision_map, stage_precisions

torch.set_num_threads(1)


def _tensor_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def test_default_selection_keeps_head_norms_embeddings(tiny_vla):
    rep = quantize_model(tiny_vla, {"name": "w8a8", "weight_bits": 8, "act_bits": 8})
    assert isinstance(tiny_vla.projector[0], QuantLinear)
    assert isinstance(tiny_vla.llm["layers"][1].fc2, QuantLinear)
    assert isinstance(tiny_vla.vision["blocks"][0].qkv, QuantLinear)
    assert type(tiny_vla.action_head) is nn.Linear  # action head stays high precision
    assert type(tiny_vla.vision["patch_embed"]) is nn.Linear  # skip pattern "embed"
    assert {v["group"] for v in rep.layers.values()} == {"vision", "projector", "llm"}
    assert rep.num_layers == 2 + 3 * 4  # projector + 3 blocks x (qkv, proj, fc1, fc2)
    assert all(v["kernel"] == "int_mm_w8a8" for v in rep.layers.values())


def test_groups_are_configuration(tiny_vla):
    rep = quantize_model(
        tiny_vla,
        {
            "name": "w4a16",
            "weight_bits": 4,
            "act_bits": 16,
            "group_size": 32,
            "groups": ["action_head"],
            "skip_patterns": [],
        },
    )
    assert list(rep.layers) == ["action_head"]
    assert isinstance(tiny_vla.action_head, QuantLinear)


@pytest.mark.parametrize(
    "cfg",
    [
        {"name": "w8a8", "weight_bits": 8, "act_bits": 8},
        {"name": "w4a16", "weight_bits": 4, "act_bits": 16, "group_size": 32},
        {
            "name": "w4a4",
            "weight_bits": 4,
            "act_bits": 4,
            "group_size": 16,
            "weight_symmetric": False,
        },
        {"name": "w4a4", "weight_bits": 2, "act_bits": 4, "weight_symmetric": False},
    ],
)
def test_quantized_model_close_and_memory_exact(tiny_vla, patches, cfg):
    cfg = {**cfg, "high_bits": 32}
    x = patches[0]
    with torch.no_grad():
        ref = tiny_vla(x)
    meta_model = type(tiny_vla)().to("meta")
    predicted = model_memory_bytes(meta_model, cfg)
    predicted_real = model_memory_bytes(tiny_vla, cfg)
    quantize_model(tiny_vla, cfg)
    assert predicted.total == predicted_real.total == _tensor_bytes(tiny_vla)
    assert model_memory_bytes(tiny_vla, cfg).total == predicted.total
    assert predicted.total < 0.8 * model_memory_bytes(meta_model, {"name": "none"}).total
    with torch.no_grad():
        err = float((tiny_vla(x) - ref).abs().max())
    # Loose per-bit-width sanity bounds (tanh actions in [-1, 1]); W2 only has to beat noise.
    assert err < {8: 0.05, 4: 0.6, 2: 1.2}[cfg["weight_bits"]]


def test_memory_none_counts_params_and_groups(tiny_vla):
    fp32 = model_memory_bytes(tiny_vla, {"name": "none"})
    assert fp32.total == _tensor_bytes(tiny_vla)
    bf16 = model_memory_bytes(tiny_vla, {"name": "none", "weight_bits": 16, "act_bits": 16})
    assert bf16.total * 2 == fp32.total
    assert set(fp32.groups) == {"vision", "projector", "llm", "action_head", "other"}
    assert fp32.groups["action_head"].params == 64 * 7 + 7
    assert fp32.as_dict()["total"] == fp32.total


def test_tied_weights_counted_once():
    emb = nn.Embedding(10, 8)
    head = nn.Linear(8, 10, bias=False)
    head.weight = emb.weight
    model = nn.ModuleDict({"embed": emb, "lm_head": head})
    assert model_memory_bytes(model).params == 80


def test_precision_map_and_stage_precisions():
    pm = precision_map({"name": "w4a16", "weight_bits": 4, "act_bits": 16, "group_size": 128})
    llm = pm.for_group("llm")
    assert llm.compute == "bf16"
    assert llm.bytes_per_weight() == pytest.approx(0.5 + 2 / 128)
    assert pm.for_group("action_head").weight_bits == 16
    stages = [
        StageSpec("vision.0.patch_embed", "vision_patch", "vision", (), ()),
        StageSpec("vision.0.block0", "vision_block", "vision.blocks.0", (), ()),
        StageSpec("llm.prefill.layer0", "llm_layer", "llm.layers.0", (), ()),
        StageSpec("head", "head", "action_head", (), ()),
    ]
    sp = stage_precisions(stages, pm)
    assert sp["vision.0.patch_embed"].weight_bits == 16
    assert sp["llm.prefill.layer0"].bytes_per_weight < 0.52
    assert sp["head"].compute == "bf16"
    dyn = stage_precisions(stages, pm, act_bits=8)
    assert dyn["llm.prefill.layer0"].compute == "int8"
    assert stage_precisions(stages, pm, act_bits=2)["vision.0.block0"].compute == "int4"
    w8a8 = precision_map({"name": "w8a8", "weight_bits": 8, "act_bits": 8})
    assert w8a8.for_group("vision").compute == "int8"
    assert precision_map({"name": "none"}).high.compute == "fp32"
    with pytest.raises(QuantConfigError, match=r"stage\.name prefix"):
        stage_precisions([StageSpec("bogus.x", "llm_layer", "x", (), ())], pm)


def test_config_validation_names_fields():
    with pytest.raises(QuantConfigError, match=r"quantization\.name=.w3a3."):
        method_config({"name": "w3a3"})
    with pytest.raises(QuantConfigError, match="alpha"):
        method_config({"name": "smoothquant", "smoothquant": {"alpha": 1.5}})
    with pytest.raises(QuantConfigError, match=r"quantization\.bogus"):
        method_config({"bogus": 1})
    with pytest.raises(QuantConfigError, match="thresholds"):
        method_config({"dyq": {"thresholds": [0.4, 0.2]}})
    with pytest.raises(QuantConfigError, match="groups"):
        method_config({"groups": ["vision", "lm"]})


def test_calibrated_methods_require_calibration(tiny_vla):
    with pytest.raises(CalibrationError, match="smoothquant"):
        quantize_model(tiny_vla, {"name": "smoothquant", "weight_bits": 8, "act_bits": 8})
    with pytest.raises(CalibrationError, match="empty"):
        CalibrationBatches(batches=[])


def test_peak_rss_sees_an_allocation():
    def alloc():
        t = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB touched
        return float(t.sum())

    _, mem = measure_peak_rss(alloc)
    assert mem.peak_delta > 40 * 1024 * 1024


def test_group_size_fallback_is_per_channel_and_accounted(tiny_vla):
    # patch_dim 48 is not a multiple of 32: that layer falls back to per-channel scales.
    cfg = {
        "name": "w4a16",
        "weight_bits": 4,
        "act_bits": 16,
        "group_size": 32,
        "skip_patterns": [],
        "high_bits": 32,
    }
    predicted = model_memory_bytes(type(tiny_vla)().to("meta"), cfg).total
    rep = quantize_model(tiny_vla, cfg)
    assert rep.layers["vision.patch_embed"]["group_size"] is None
    assert rep.layers["projector.0"]["group_size"] == 32
    assert predicted == _tensor_bytes(tiny_vla)
    with pytest.raises(QuantConfigError, match="group_size"):
        quantize_model(type(tiny_vla)(), {**cfg, "group_fallback": "error"})
