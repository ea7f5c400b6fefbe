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
