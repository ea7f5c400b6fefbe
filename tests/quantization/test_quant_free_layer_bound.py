"""The benchmark's Amdahl bound: 'free' layers replay their output instead of computing it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from agents.zoo import build_model, get_shape, random_inputs
from experiments.benchmarks.quant_kernels import METHODS, free_layer_model
from quantization.config import method_config
from quantization.selection import selected_linears


@pytest.mark.parametrize("with_conv", [False, True])
def test_free_layers_compute_once_per_shape_then_replay(monkeypatch, with_conv: bool) -> None:
    computed: list[nn.Module] = []
    for cls in (nn.Linear, nn.Conv2d):
        real = cls.forward

        def counting(self, x, real=real):
            computed.append(self)
            return real(self, x)

        monkeypatch.setattr(cls, "forward", counting)
    torch.manual_seed(0)
    shape = get_shape("pi0-tiny")
    model = build_model(shape).eval()
    x = random_inputs(shape, seed=1)
    free = free_layer_model(model, with_conv=with_conv)
    linears = list(selected_linears(free, method_config(METHODS["w8a8"])).values())
    convs = [m for m in free.modules() if isinstance(m, nn.Conv2d)]
    assert len(linears) > 60  # the action expert's layers included
    assert convs
    with torch.no_grad():
        first = free(x)["actions"]
        assert {id(m) for m in linears} <= {id(m) for m in computed}
        computed.clear()
        again = free(x)["actions"]
    ran = {id(m) for m in computed}
    assert not ran & {id(m) for m in linears}  # replayed, not computed
    assert bool(ran & {id(m) for m in convs}) is not with_conv
    assert ran  # layers W8A8 leaves alone (the FiLM, the expert's projections) still run
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert torch.isfinite(first).all()
