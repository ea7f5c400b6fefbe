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
