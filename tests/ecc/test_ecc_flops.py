"""Analytic FLOPs vs torch.utils.flop_counter on the zoo's tiny models (acceptance: within 5%)."""

import pytest

from ecc.flopcheck import compare_flops


@pytest.mark.parametrize("name", ["openvla-tiny", "oft-tiny", "pi0-tiny", "cogact-tiny"])
def test_tiny_model_flops_match_counter(name):
    cmp = compare_flops(name)
    assert cmp.total_counted > 0
    assert abs(cmp.total_rel_error) <= 0.05
    for stage, analytic, counted in cmp.stages:
        if counted > 0:
            assert analytic == pytest.approx(counted, rel=0.05), stage
