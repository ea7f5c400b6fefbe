"""The precision-controller interface shared by static methods and DyQ."""

import numpy as np

from quantization.apply import quantize_model
from quantization.controller import FixedPrecision, PrecisionController, make_precision_controller
from quantization.dyq import DyQController
from quantization.linear import quant_linears


def test_static_methods_get_fixed_controllers():
    c = make_precision_controller({"name": "w8a8", "weight_bits": 8, "act_bits": 8})
    assert isinstance(c, FixedPrecision)
    assert isinstance(c, PrecisionController)
    assert [c.update(np.zeros(7)) for _ in range(3)] == [8, 8, 8]
    assert c.histogram()[8] == 1.0
    c.reset()
    assert c.timeline == []
    assert make_precision_controller({"name": "none"}).histogram() == {32: 0.0}


def test_dyq_controller_binds_model(tiny_vla):
    cfg = {"name": "dyq", "weight_bits": 4, "group_size": 16}
    quantize_model(tiny_vla, cfg)
    c = make_precision_controller(cfg, tiny_vla)
    assert isinstance(c, DyQController)
    assert isinstance(c, PrecisionController)
    a = np.zeros(7)
    a[0] = 1.0
    for _ in range(30):
        c.update(a)
    assert c.bits < 16
    assert {m.act_bits for m in quant_linears(tiny_vla)} == {c.bits}


class _ChunkPolicy:
    """Minimal policy: a fixed model input, chunk = model output (tiny VLA actions)."""

    def __init__(self, model, x):
        self.model, self.x, self.resets = model, x, 0

    def reset(self, language=None):
        self.resets += 1

    def predict_action_chunk(self, obs):
        import torch

        with torch.no_grad():
            out = self.model(self.x)[0].numpy()
        out[:, 0] = 1.0  # coarse straight motion: DyQ should lower the precision
        return out, {"infer_ms": 0.0}


def test_precision_controlled_policy_feeds_back_executed_actions(tiny_vla, patches):
    from quantization.policy import PrecisionControlledPolicy

    cfg = {"name": "dyq", "weight_bits": 4, "group_size": 16}
    quantize_model(tiny_vla, cfg)
    inner = _ChunkPolicy(tiny_vla, patches[0][:1])
    pol = PrecisionControlledPolicy(inner, make_precision_controller(cfg, tiny_vla))
    pol.reset("pick")
    assert inner.resets == 1
    bits_used = []
    for _ in range(40):
        if not pol._queue:
            bits_used.append(pol.controller.bits)
        a = pol.select_action({})
        assert a.shape == (7,)
    assert len(pol.controller.timeline) == 40
    assert bits_used[0] == 16
    assert min(bits_used) < 16
    _, info = pol.predict_action_chunk({})
    assert info["act_bits"] == pol.controller.bits
    assert sum(pol.histogram().values()) > 0.99
