"""The GPU kernel benchmark's paths, run on the CPU kernels with tiny shapes.

The figures come from a CUDA machine; these check that every variant computes the layer it
claims to (against float64), that padding rows changes nothing, and that the shape table
covers every LLM linear of the real-size models.
"""

from __future__ import annotations

import json

import pytest
import torch

from experiments.benchmarks import gpu_quant_kernels as gq


def test_every_variant_matches_float64_on_its_own_operands(tmp_path):
    out = tmp_path / "gq.json"
    res = gq.measure("cpu", "quick", str(out), repeats=1)
    assert res["wrong_results"] == 0
    rows = res["rows"]
    assert {r["variant"] for r in rows} == set(gq.VARIANTS)
    for r in rows:
        assert r["measured_ms"] is not None, r
        assert r["kernel_rel_err"] < 1e-2, r
    w4 = [r["quant_rel_err"] for r in rows if r["variant"] == "w4a16"]
    # 4-bit groups of 128 gaussian weights: about a tenth of the output's norm, not zero.
    assert all(0.05 < e < 0.2 for e in w4), w4
    int8 = [r["quant_rel_err"] for r in rows if r["variant"] == "w8a8_int8"]
    assert all(e < 0.03 for e in int8), int8
    on_disk = json.loads(out.read_text())
    assert on_disk["provenance"]["git"]["commit"]
    assert on_disk["summary"]["tiny"]["prefill"]["w4a16"]["measured_ms"] > 0


@pytest.mark.parametrize("variant", ["w8a8_int8", "w8a8_int8_mm", "w8a8_fp8", "w8a8_fp8_mm"])
def test_padded_rows_give_the_same_result(variant):
    g = torch.Generator().manual_seed(0)
    w, x = torch.randn(64, 128, generator=g), torch.randn(3, 128, generator=g)
    plain = gq.build_variant(variant, w, x)[0]()
    padded = gq.build_variant(variant, w, x, pad_to=32)[0]()
    assert padded.shape == plain.shape
    torch.testing.assert_close(padded, plain)


def test_real_shapes_cover_every_llm_linear():
    shapes, layout = gq.real_shapes(("openvla-7b", "pi0-3b"))
    kn = {(s.k, s.n) for s in shapes}
    # Llama-2-7B: 4096 -> 4096 (q, k, v, o), 4096 -> 11008 (gate, up), 11008 -> 4096 (down);
    # Gemma-2B (pi0): 8 heads of 256, one kv head, 16384-wide MLP.
    assert {(4096, 4096), (4096, 11008), (11008, 4096)} <= kn
    assert {(2048, 2048), (2048, 256), (2048, 16384), (16384, 2048)} <= kn
    assert layout["openvla-7b"]["prefix_tokens"] == 288
    assert all(1 in s.ms for s in shapes)
    assert any(288 in s.ms for s in shapes if s.k == 4096)


def test_unknown_variant_names_the_allowed_ones():
    with pytest.raises(ValueError, match="w4a16"):
        gq.build_variant("w3a3", torch.zeros(8, 32), torch.zeros(1, 32))
