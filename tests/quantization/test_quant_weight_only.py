"""Weight-only embedding / conv storage, the action_expert group, and their byte accounting."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from agents.zoo import build_model, get_shape
from quantization.apply import quantize_model
from quantization.config import method_config
from quantization.errors import QuantConfigError
from quantization.linear import quant_linears, set_act_bits
from quantization.memory import model_memory_bytes
from quantization.precision import precision_map, stage_group
from quantization.quantizers import WeightQuantSpec
from quantization.selection import module_group
from quantization.weight_only import QuantConv2d, QuantEmbedding

# pi0-tiny as DyQ stores it: INT4 Linear layers of every group but the action head, fp32 rest
# (high_bits 32, so the accounted bytes equal the tensors' own).
PI0_W4_CFG = {
    "name": "dyq",
    "weight_bits": 4,
    "act_bits": 16,
    "group_size": 128,
    "groups": ["vision", "projector", "llm", "action_expert", "other"],
    "high_bits": 32,
}


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_embedding_rows_round_trip_within_half_a_step(bits):
    torch.manual_seed(0)
    emb = nn.Embedding(37, 24)
    q = QuantEmbedding(emb, WeightQuantSpec(bits, None, symmetric=False))
    err = (q.weight - emb.weight).abs()
    half_step = q.packed.scale.float() / 2  # one scale per row
    assert bool((err <= half_step + 1e-7).all())
    ids = torch.tensor([[0, 5, 36], [3, 3, 1]])
    assert torch.equal(q(ids), F.embedding(ids, q.weight))
    if bits == 8:
        assert err.max() < 0.02
    assert not torch.equal(q(ids), emb(ids))  # it really is quantized


@pytest.mark.parametrize("bits", [8, 4])
def test_conv_matches_a_conv_with_the_dequantized_kernel(bits):
    torch.manual_seed(1)
    conv = nn.Conv2d(6, 10, 3, stride=2, padding=1)
    q = QuantConv2d(conv, WeightQuantSpec(bits, None, symmetric=True))
    x = torch.randn(2, 6, 9, 9)
    ref = F.conv2d(x, q.weight, conv.bias, 2, 1)
    assert torch.allclose(q(x), ref, atol=1e-6)
    rel = (q(x) - conv(x)).abs().max() / conv(x).abs().max()
    assert 0 < rel < (0.02 if bits == 8 else 0.2)
    assert q.weight.shape == conv.weight.shape


def test_pi0_tiny_groups_and_exact_bytes_with_weight_only_tables():
    torch.manual_seed(0)
    model = build_model(get_shape("pi0-tiny"))
    assert module_group("expert.layers.2.mlp.up", method_config()) == "action_expert"
    assert module_group("expert.out", method_config()) == "action_head"
    assert module_group("dit.layers.0.attn.q", method_config()) == "action_expert"
    cfg = {**PI0_W4_CFG, "embedding_bits": 8, "conv_bits": 8}
    predicted = model_memory_bytes(model, cfg).total
    ref = copy.deepcopy(model)
    rep = quantize_model(model, cfg)
    weight_only = {n for n, v in rep.layers.items() if v["kernel"] == "weight_only"}
    assert "embed.tokens" in weight_only
    assert any(".stem." in n for n in weight_only)
    assert isinstance(model.embed.tokens, QuantEmbedding)
    assert any(n.startswith("expert.layers.") for n in rep.layers)
    assert not any(n.startswith("expert.") and ".layers." not in n for n in rep.layers)
    tensors = [*model.parameters(), *model.buffers()]
    assert predicted == sum(t.numel() * t.element_size() for t in tensors)
    bf16 = model_memory_bytes(ref, {"name": "none", "weight_bits": 16, "act_bits": 16}).total
    assert model_memory_bytes(model, {**cfg, "high_bits": 16}).total < 0.35 * bf16
    # the activation switch reaches the Linear layers only, never the table storage
    n = set_act_bits(model, 4)
    assert n == len(quant_linears(model)) == len(rep.layers) - len(weight_only)


def test_stage_kind_expert_layer_prices_as_action_expert():
    assert stage_group("expert.s0.layer1", "expert_layer") == "action_expert"
    assert stage_group("expert.s0.out", "expert_out") == "action_head"
    assert stage_group("llm.layer0", "llm_layer") == "llm"


def test_bad_weight_only_bits_name_the_field():
    with pytest.raises(QuantConfigError, match="padding_mode"):
        QuantConv2d(nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), WeightQuantSpec(8))
    with pytest.raises(QuantConfigError, match="embedding_bits"):
        method_config({"name": "dyq", "weight_bits": 4, "embedding_bits": 3})
    with pytest.raises(QuantConfigError, match="conv_bits"):
        method_config({"name": "dyq", "weight_bits": 4, "conv_bits": 16})


def test_group_weight_bits_store_the_expert_at_int8_and_price_it_exactly():
    torch.manual_seed(0)
    model = build_model(get_shape("pi0-tiny"))
    cfg = {
        **PI0_W4_CFG,
        "group_weight_bits": {"action_expert": 8},
        "embedding_bits": 4,
        "conv_bits": 4,
        "weight_symmetric": False,
    }
    predicted = model_memory_bytes(model, cfg)
    all4 = model_memory_bytes(model, {**cfg, "group_weight_bits": None})
    # 8-bit codes take twice the bytes of 4-bit ones; other groups unchanged.
    assert predicted.groups["action_expert"].weight == 2 * all4.groups["action_expert"].weight
    assert predicted.groups["llm"].total == all4.groups["llm"].total
    rep = quantize_model(model, cfg)
    bits = {n: v["weight_bits"] for n, v in rep.layers.items() if v["kernel"] != "weight_only"}
    assert {b for n, b in bits.items() if n.startswith("expert.layers.")} == {8}
    assert {b for n, b in bits.items() if n.startswith("llm.")} == {4}
    tensors = [*model.parameters(), *model.buffers()]
    assert predicted.total == sum(t.numel() * t.element_size() for t in tensors)
    pmap = precision_map(cfg)
    assert pmap.groups["action_expert"].weight_bits == 8
    assert pmap.groups["llm"].weight_bits == 4
    with pytest.raises(QuantConfigError, match=r"group_weight_bits\.llm=16"):
        method_config({**cfg, "group_weight_bits": {"llm": 16}})
    with pytest.raises(QuantConfigError, match="group_weight_bits key='decoder'"):
        method_config({**cfg, "group_weight_bits": {"decoder": 8}})
