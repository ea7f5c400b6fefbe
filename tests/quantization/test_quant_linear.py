"""QuantLinear: real vs fake agreement, run-time act-bit switching, byte accounting."""

import copy

import pytest
import torch
from torch import nn

from quantization import packing
from quantization.errors import QuantConfigError
from quantization.linear import QuantLinear, set_act_bits
from quantization.quantizers import WeightQuantSpec

torch.set_num_threads(1)


@pytest.fixture
def lin():
    torch.manual_seed(0)
    return nn.Linear(256, 64)


def _pair(lin, spec, act_bits):
    # Same stored integers, two execution paths: flip the backend on a copy.
    real = QuantLinear.from_linear(lin, spec, act_bits=act_bits)
    fake = copy.deepcopy(real)
    fake.backend = "fake"
    return real, fake


def test_w8a8_real_kernel_matches_fake(lin):
    real, fake = _pair(lin, WeightQuantSpec(8), 8)
    assert real.kernel_for() == "int_mm_w8a8"
    assert fake.kernel_for() == "fake"
    x = torch.randn(2, 9, 256)
    yr, yf = real(x), fake(x)
    # Same integer arithmetic; only fp32 summation order differs.
    torch.testing.assert_close(yr, yf, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        assert float((yr - lin(x)).abs().max()) < 0.05


@pytest.mark.parametrize("clip_search", [0, 10])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("act_bits", [16, 8, 4, 2])
def test_w4_real_kernel_matches_fake(lin, symmetric, act_bits, clip_search):
    spec = WeightQuantSpec(4, 128, symmetric, clip_search=clip_search)
    real, fake = _pair(lin, spec, act_bits)
    assert real.layout == "int4pack_cpu"
    assert real.kernel_for().startswith("int4pack")
    x = torch.randn(3, 256)
    yr, yf = real(x), fake(x)
    # Stated tolerance: bf16 output rounding (2^-8 relative) of the real kernel.
    scale = float(yf.abs().max())
    assert float((yr - yf).abs().max()) <= 2**-7 * scale + 1e-3


def test_switching_act_bits_changes_outputs_without_reallocating(lin):
    for spec in (WeightQuantSpec(4, 128), WeightQuantSpec(8), WeightQuantSpec(2, 64, False)):
        m = QuantLinear.from_linear(lin, spec)
        ptrs = {n: b.data_ptr() for n, b in m.named_buffers()}
        snap = {n: b.clone() for n, b in m.named_buffers()}
        x = torch.randn(4, 256)
        outs = {}
        for bits in (16, 8, 4, 2, 16):
            m.act_bits = bits
            outs[bits] = m(x)
        assert not torch.equal(outs[16], outs[4])
        assert not torch.equal(outs[8], outs[2])
        assert {n: b.data_ptr() for n, b in m.named_buffers()} == ptrs
        for n, b in m.named_buffers():
            assert torch.equal(b, snap[n])


def test_lower_act_bits_means_larger_error(lin):
    m = QuantLinear.from_linear(lin, WeightQuantSpec(8), backend="fake")
    x = torch.randn(16, 256)
    ref = lin(x)
    errs = []
    for bits in (16, 8, 4, 2):
        m.act_bits = bits
        with torch.no_grad():
            errs.append(float((m(x) - ref).pow(2).mean()))
    assert errs == sorted(errs)


@pytest.mark.parametrize(
    ("spec", "expect_weight"),
    [
        (WeightQuantSpec(8), 64 * 256),
        (WeightQuantSpec(4, 128), 64 * 128),
        (WeightQuantSpec(2, 64, False), 64 * 64),
        (WeightQuantSpec(4, 32), 64 * 128),
    ],
)
def test_storage_bytes_exact(lin, spec, expect_weight):
    m = QuantLinear.from_linear(lin, spec)
    sb = m.storage_bytes()
    assert sb.weight == expect_weight
    assert sb.bias == 64 * 4
    assert sb.total == sum(b.numel() * b.element_size() for b in m.buffers())
    groups = 256 // (spec.group_size or 256)
    if m.layout == "int4pack_cpu":
        assert sb.scale + sb.zero == groups * 64 * 2 * 2
    else:
        assert sb.scale == groups * 64 * 2
        assert sb.zero == (0 if spec.symmetric else groups * 64)


def test_fallback_shapes_use_rowmajor_and_fake():
    lin = nn.Linear(20, 10)
    m = QuantLinear.from_linear(lin, WeightQuantSpec(4, None))
    assert m.layout == "rowmajor"
    assert m.kernel_for(16) == "fake"
    assert m.storage_bytes().weight == 10 * packing.packed_row_bytes(20, 4)
    assert m(torch.randn(2, 20)).shape == (2, 10)
    with pytest.raises(QuantConfigError, match="layout"):
        QuantLinear.from_linear(lin, WeightQuantSpec(4, None), layout="int4pack_cpu")


def test_set_act_bits_validates_and_counts(lin):
    model = nn.Sequential(QuantLinear.from_linear(lin, WeightQuantSpec(8)), nn.ReLU())
    assert set_act_bits(model, 4) == 1
    assert model[0].act_bits == 4
    with pytest.raises(QuantConfigError, match="act_bits=3"):
        set_act_bits(model, 3)


def test_smoothquant_input_scale_preserves_function(lin):
    s = torch.rand(256) * 4 + 0.25
    m = QuantLinear.from_linear(lin, WeightQuantSpec(8), act_bits=32, input_scale=s)
    # Error of W*s is within half its row scale; dividing by s rescales that bound.
    bound = m.scale.float() / 2 / s
    err = (m.dequantized_weight() - lin.weight.detach()).abs()
    assert bool((err <= bound * (1 + 1e-5)).all())
    x = torch.randn(3, 256)
    with torch.no_grad():
        assert float((m(x) - lin(x)).abs().max()) < 0.05


def test_fake_backend_stores_rowmajor_and_agrees_with_kernel_layout(lin):
    spec = WeightQuantSpec(4, 128, scale_dtype=torch.bfloat16)
    fake = QuantLinear.from_linear(lin, spec, act_bits=4, backend="fake")
    real = QuantLinear.from_linear(lin, spec, act_bits=4)
    assert (fake.layout, real.layout) == ("rowmajor", "int4pack_cpu")
    assert torch.equal(fake.codes(), real.codes())  # same integers in either layout
    x = torch.randn(3, 256)
    with torch.no_grad():
        yf, yr = fake(x), real(x)
    assert float((yr - yf).abs().max()) <= 2**-7 * float(yf.abs().max()) + 1e-3


def test_int8_token_codes_stay_in_range_at_extremes():
    from quantization.kernels import quantize_tokens_int8

    x = torch.tensor(
        [[1e-30, -1e-30, 0.0], [3.4e38, -3.4e38, 1.0], [0.0, 0.0, 0.0], [1.0000001, -1.0, 0.5]]
    )
    codes, scale = quantize_tokens_int8(x)
    assert int(codes.abs().max()) <= 127
    assert int(codes[1, 0]) == 127
    assert int(codes[1, 1]) == -127
    assert int(codes[3, 0]) == 127
    assert torch.isfinite(scale).all()
