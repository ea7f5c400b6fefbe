"""SmoothQuant and QVLA-style allocation do what they claim on constructed cases."""

import pytest
import torch
from torch import nn

from quantization.apply import quantize_model
from quantization.calib_batches import CalibrationBatches
from quantization.config import SmoothQuantConfig
from quantization.linear import QuantLinear
from quantization.qvla import greedy_allocation
from quantization.smoothquant import migration_scales, smoothing_scales

torch.set_num_threads(1)


def _outlier_batches(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randn(8, 64, generator=g)
        x[:, :3] *= 60.0  # a few outlier channels, as in LLM activations
        out.append(x)
    return out


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 16)).eval()


def test_migration_scale_formula():
    act = torch.tensor([4.0, 1.0, 9.0])
    w = torch.tensor([[1.0, -4.0, 0.5], [0.5, 1.0, -1.0]])
    s = migration_scales(act, w, 0.5)
    torch.testing.assert_close(s, torch.tensor([2.0, 0.5, 3.0]))
    assert torch.equal(migration_scales(act, w, 1.0), act)


@pytest.mark.parametrize(("w", "a"), [(8, 8), (4, 4)])
def test_smoothquant_beats_plain_quantization_on_outliers(w, a):
    batches = _outlier_batches()
    test = _outlier_batches(2, seed=1)
    base = _mlp()
    with torch.no_grad():
        refs = [base(x) for x in test]
    errs = {}
    for name in ("w8a8", "smoothquant"):
        model = _mlp()
        # Only the layer whose inputs carry the outliers (named "0") is quantized.
        cfg = {
            "name": name,
            "weight_bits": w,
            "act_bits": a,
            "groups": ["vision"],
            "group_patterns": {"vision": ["^0$"]},
        }
        if w == 4:
            cfg["group_size"] = 32
        quantize_model(model, cfg, CalibrationBatches(batches=batches))
        assert isinstance(model[0], QuantLinear)
        assert type(model[2]) is nn.Linear
        with torch.no_grad():
            errs[name] = sum(float((model(x) - r).pow(2).mean()) for x, r in zip(test, refs))
    assert errs["smoothquant"] < 0.7 * errs["w8a8"], errs


def test_smoothing_scales_use_calibration_maxima():
    model = _mlp()
    targets = {"0": model[0]}
    s = smoothing_scales(
        model, targets, CalibrationBatches(_outlier_batches()), SmoothQuantConfig(0.5)
    )
    assert s["0"].shape == (64,)
    assert float(s["0"][:3].mean()) > 3 * float(s["0"][3:].mean())


def test_greedy_allocation_respects_budget_and_prefers_sensitive():
    sens = {
        "a": {2: 10.0, 4: 1.0, 8: 0.1},  # very sensitive
        "b": {2: 0.2, 4: 0.1, 8: 0.05},  # robust
    }
    sizes = {"a": 100, "b": 100}
    alloc = greedy_allocation(sens, sizes, avg_bits=4.0)
    assert alloc == {"a": 4, "b": 4} or alloc["a"] > alloc["b"]
    assert sum(alloc[n] * sizes[n] for n in alloc) <= 4.0 * 200
    alloc = greedy_allocation(sens, sizes, avg_bits=5.0)
    assert alloc == {"a": 8, "b": 2}
    assert greedy_allocation(sens, sizes, avg_bits=2.0) == {"a": 2, "b": 2}


def test_qvla_end_to_end_gives_sensitive_layer_more_bits():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 32), nn.Linear(32, 32), nn.Linear(32, 7)).eval()
    with torch.no_grad():
        model[1].weight.mul_(20.0)  # amplifies its own quantization noise into the actions
    batches = [torch.randn(4, 32) for _ in range(2)]
    rep = quantize_model(
        model,
        {
            "name": "qvla",
            "weight_bits": 4,
            "act_bits": 32,
            "groups": ["other"],
            "backend": "fake",
            "qvla": {"avg_weight_bits": 4.0, "bit_choices": [2, 4, 8]},
        },
        CalibrationBatches(batches=batches),
    )
    bits = {n: v["weight_bits"] for n, v in rep.layers.items()}
    assert bits["1"] >= max(bits["0"], bits["2"])
    sizes = {"0": 32 * 32, "1": 32 * 32, "2": 32 * 7}
    assert sum(bits[n] * sizes[n] for n in bits) <= 4.0 * sum(sizes.values())
    assert model[1].spec.bits == bits["1"]


def test_qvla_channelwise_gives_amplified_channels_more_bits():
    from quantization.linear import set_act_bits
    from quantization.memory import model_memory_bytes
    from quantization.mixed import MixedQuantLinear

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 7)).eval()
    with torch.no_grad():
        model[2].weight[:, :16].mul_(30.0)  # channels 0-15 of layer "0" drive the actions
    batches = [torch.randn(8, 32) for _ in range(3)]
    with torch.no_grad():
        ref = model(batches[0])
    w0 = model[0].weight.detach().clone()
    cfg = {
        "name": "qvla",
        "weight_bits": 4,
        "act_bits": 32,
        "groups": ["other"],
        "group_patterns": {},
        "high_bits": 32,
        "qvla": {"avg_weight_bits": 4.0, "granularity": "channel", "channel_group": 16},
    }
    rep = quantize_model(model, cfg, CalibrationBatches(batches=batches))
    layer = model[0]
    assert isinstance(layer, MixedQuantLinear), rep.layers
    bits = layer.bits_per_channel.long()
    assert bits[:16].float().mean() > bits[16:].float().mean()
    # Budget: parameter-weighted average over all quantized weights.
    total = sum(
        (m.bits_per_channel.long() * m.in_features).sum().item()
        if isinstance(m, MixedQuantLinear)
        else m.spec.bits * m.in_features * m.out_features
        for m in (model[0], model[2])
    )
    assert total <= 4.0 * (32 * 64 + 64 * 7) + 1e-6
    # Exact memory accounting, function preserved, act bits switch through the parts.
    assert model_memory_bytes(model, cfg).total == sum(
        t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]
    )
    with torch.no_grad():
        assert float((model(batches[0]) - ref).abs().max()) < 0.5 * float(ref.abs().max())
        err = (layer.dequantized_weight() - w0).abs().amax(1)  # per output channel
        wide, narrow = bits == bits.max(), bits == bits.min()
        assert float(err[wide].max()) < float(err[narrow].min())
        y32 = model(batches[0])
        assert set_act_bits(model, 2) >= 2
        assert not torch.equal(model(batches[0]), y32)


def test_qvla_channelwise_rejects_non_differentiable_outputs():
    from quantization.errors import CalibrationError

    model = nn.Sequential(nn.Linear(8, 16), nn.Linear(16, 7)).eval()

    def run(m, b):
        with torch.no_grad():
            return m(b)

    cfg = {"name": "qvla", "weight_bits": 4, "groups": ["other"], "group_patterns": {}}
    with pytest.raises(CalibrationError, match="differentiable"):
        quantize_model(model, cfg, CalibrationBatches(batches=[torch.randn(2, 8)], run=run))
