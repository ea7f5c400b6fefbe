"""Zoo: real-size parameter counts on the meta device, tiny sizes, lookups."""

from __future__ import annotations

import pytest
import torch

from agents.errors import ShapeConfigError, UnknownShapeError
from agents.zoo import REAL_SHAPES, TINY_SHAPES, build_model, count_params, get_shape, list_shapes


@pytest.mark.parametrize("name", REAL_SHAPES)
def test_real_size_counts_within_2_percent(name: str) -> None:
    shape = get_shape(name)
    model = build_model(shape, "meta")
    assert all(p.device.type == "meta" for p in model.parameters())
    n = count_params(model)
    assert shape.published_params
    assert shape.published_source
    assert abs(n / shape.published_params - 1) <= 0.02, (name, n)


def test_openvla_count_is_exact() -> None:
    # The HF checkpoint total is an exact integer; our layout reproduces it.
    assert count_params(build_model("openvla-7b", "meta")) == 7_541_237_184


@pytest.mark.parametrize("name", TINY_SHAPES)
def test_tiny_sizes_are_trainable_here(name: str) -> None:
    n = count_params(build_model(name))
    assert 1_000_000 <= n <= 5_000_000


def test_unknown_shape_lists_allowed() -> None:
    with pytest.raises(UnknownShapeError, match="openvla-tiny"):
        get_shape("openvla-70b")
    assert set(TINY_SHAPES) | set(REAL_SHAPES) == set(list_shapes())


def test_pi0_expert_must_match_llm_depth() -> None:
    import dataclasses

    s = get_shape("pi0-tiny")
    bad = dataclasses.replace(
        s, head=dataclasses.replace(s.head, expert=dataclasses.replace(s.head.expert, layers=3))
    )
    with pytest.raises(ShapeConfigError, match="layers"):
        build_model(bad, "meta")


def test_shape_token_counts() -> None:
    s = get_shape("openvla-7b")
    assert s.vision_tokens == 256
    assert s.prefix_tokens == 256 + 32
    assert get_shape("smolvla-450m").vision[0].tokens_out == 64
    oft = get_shape("oft-tiny")
    assert oft.llm_tokens == oft.prefix_tokens + 56
    m = build_model("oft-tiny")
    assert m.prefill_mask(torch.device("cpu")).shape == (oft.llm_tokens, oft.llm_tokens)


@pytest.fixture(scope="module")
def openvla_meta():
    return build_model("openvla-7b", "meta")


def test_real_size_boundaries_on_meta(openvla_meta) -> None:
    from agents.boundary import example_inputs, stage_boundaries

    model = openvla_meta
    rows = stage_boundaries(model, example_inputs(model.shape))
    by = {r.name: r for r in rows}
    # 256 vision tokens x 4096 fp32 + 32 int64 prompt ids
    assert by["projector"].cut_bytes == 256 * 4096 * 4 + 32 * 8
    # a temporal cut mid-decode carries the hidden state and every cache (re-read next token)
    r = by["llm.decode.t3.layer10"]
    assert "llm.h" in r.cut_keys
    assert "kv.5.k" in r.cut_keys
    assert len(rows) == len(model.stages())


def test_layerwise_split_moves_hidden_state_per_token_not_kv(openvla_meta) -> None:
    from agents.boundary import example_inputs, placement_transfers

    model = openvla_meta

    def place(spec) -> str:  # edge: vision .. LLM layer 10; cloud: layers 11.. and heads
        if spec.kind in ("llm_layer",):
            return "edge" if spec.layer <= 10 else "cloud"
        return "cloud" if spec.kind in ("norm", "lm_head") else "edge"

    moves = placement_transfers(model, example_inputs(model.shape), place)
    assert not [m for m in moves if m.key.startswith("kv.")]
    up = [m for m in moves if m.dst == "cloud"]
    down = [m for m in moves if m.dst == "edge"]
    assert len(up) == 7  # prefill hidden states once + one per decoded token (t1..t6)
    assert up[0].nbytes == model.shape.llm_tokens * 4096 * 4
    assert all(m.nbytes == 4096 * 4 for m in up[1:])
    assert [m.key for m in down] == ["llm.token"] * 6  # next token id back to the edge embed


def test_conv_stem_counts_and_token_grid() -> None:
    from agents.layers import PatchEmbed
    from agents.shapes import ViTShape

    plain = ViTShape("v", 64, 8, 32, 1, 2, 64)
    stem = ViTShape("v", 64, 8, 32, 1, 2, 64, conv_stem=(16, 24))
    for v in (plain, stem):
        embed = PatchEmbed(v)
        convs = sum(p.numel() for n, p in embed.named_parameters() if n not in ("pos", "prefix"))
        assert convs == v.patch_embed_params
        assert embed(torch.zeros(2, 3, 64, 64)).shape == (2, v.num_patches, 32)
    assert stem.patchify_kernel == 2
    assert plain.patchify_kernel == 8
    # Plain patchify: one 8x8 conv over an 8x8 output grid.
    assert plain.patch_embed_macs == 3 * 32 * 64 * 64
    with pytest.raises(ShapeConfigError, match="patch_size=6 must be divisible by 2\\*\\*len"):
        ViTShape("v", 48, 6, 32, 1, 2, 64, conv_stem=(8, 8))
