"""experiments.quant_weight_error: footprint and action error of weight variants, offline."""

import pytest
import torch

from experiments.apps import run_app
from experiments.quant_weight_error import compare_variants, parse_variant
from quantization.config import dyq_weight_config, method_config
from quantization.errors import QuantConfigError
from tests.quantization.test_quant_calib_data import _demos, _policy


def test_parse_variant_reads_yaml_values_and_names_bad_ones(tmp_path):
    assert parse_variant("base=") == ("base", {})
    assert parse_variant("a=weight_symmetric=false,group_size=64,embedding_bits=null") == (
        "a",
        {"weight_symmetric": False, "group_size": 64, "embedding_bits": None},
    )
    assert parse_variant("e=groups=[vision,llm],conv_bits=8") == (
        "e",
        {"groups": ["vision", "llm"], "conv_bits": 8},
    )
    with pytest.raises(QuantConfigError, match="balanced"):
        parse_variant("a=groups=[vision")
    with pytest.raises(QuantConfigError, match="a YAML value"):
        parse_variant("a=groups=x: y: z")
    for bad in ("noequals", "=x", "a=group_size"):
        with pytest.raises(QuantConfigError, match="NAME="):
            parse_variant(bad)
    with pytest.raises(SystemExit, match=r"weight_clip_search=-1 is not allowed"):
        run_app(
            "study",
            "quant_weight_error",
            ["checkpoint=x", "demos=y", "variants=['a=weight_clip_search=-1']", f"out={tmp_path}"],
        )


def test_variants_are_priced_and_scored_against_the_unquantized_policy():
    pol = _policy("pi0-tiny")
    before = {k: v.clone() for k, v in pol.model.state_dict().items()}
    dyq = dyq_weight_config()
    cfgs = {
        "dyq": method_config(dyq),
        "nothing": method_config({**dyq, "groups": [], "embedding_bits": None, "conv_bits": None}),
    }
    rows, bf16 = compare_variants(pol, _demos(), cfgs, frames=4, act_bits=(8,))
    by = {r["variant"]: r for r in rows}
    # Nothing quantized: BF16-priced bytes and, at A16 (no activation rounding in fp32
    # layers left), exactly the reference actions.
    assert by["nothing"]["bytes"] == f"{bf16:,}"
    assert by["nothing"]["A16 mean / p90"] == "0.0000 / 0.0000"
    assert float(by["dyq"]["of bf16"]) < 0.5
    assert float(by["dyq"]["A16 mean / p90"].split(" / ")[0]) > 0
    # The caller's policy stays unquantized.
    after = pol.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
