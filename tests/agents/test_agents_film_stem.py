"""Language-conditioned (FiLM) conv stem with spatial-softmax keypoints: counts, conditioning,
and the same plumbing guarantees as the plain towers (staged == monolithic, trace == model)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from agents.errors import ObservationError, ShapeConfigError
from agents.layers import PatchEmbed, spatial_softmax
from agents.shapes import ViTShape
from agents.staged import run_all_stages
from agents.zoo import build_model, count_params, get_shape, random_inputs, random_model
from ecc.flopcheck import compare_flops
from ecc.trace import build_trace

torch.set_num_threads(1)

FILM = ViTShape("v", 64, 8, 32, 1, 2, 64, conv_stem=(16, 24), film_vocab=50, keypoints=True)


def film_pi0() -> object:
    base = get_shape("pi0-tiny")
    towers = tuple(replace(v, film_vocab=512, keypoints=True) for v in base.vision)
    return replace(base, name="pi0-tiny-film", vision=towers)


def test_counts_match_the_module() -> None:
    embed = PatchEmbed(FILM)
    n = sum(p.numel() for name, p in embed.named_parameters() if name not in ("pos", "prefix"))
    assert n == FILM.patch_embed_params
    plain = replace(FILM, film_vocab=0, keypoints=False)
    # FiLM: 50 x 24 embedding + a 24 -> 2 * (16 + 24) generator
    assert n - plain.patch_embed_params == 50 * 24 + 24 * 80 + 80
    assert FILM.patch_embed_macs - plain.patch_embed_macs == 24 * 80
    assert FILM.keypoint_dim == 48
    assert plain.keypoint_dim == 0


def test_output_depends_on_the_instruction_and_needs_it() -> None:
    torch.manual_seed(0)
    embed = PatchEmbed(FILM).eval()
    images = torch.rand(4, 3, 64, 64) * 2 - 1  # 2 prompts x 2 cameras
    a = torch.tensor([[1, 2, 3, 0], [1, 2, 3, 0]])
    b = torch.tensor([[1, 2, 3, 0], [1, 7, 3, 0]])  # the second prompt names another word
    with torch.no_grad():
        out_a, out_b = embed(images, a), embed(images, b)
        _, kp = embed.embed_and_keypoints(images, a)
    assert out_a.shape == (4, FILM.num_patches, 32)
    assert kp.shape == (4, 48)
    assert kp.abs().max() <= 1.0
    assert torch.equal(out_a[:2], out_b[:2])  # first prompt (both its cameras) unchanged
    assert not torch.allclose(out_a[2:], out_b[2:])
    with pytest.raises(ObservationError, match="tokens"):
        embed(images)


def test_film_and_keypoints_need_a_conv_stem() -> None:
    with pytest.raises(ShapeConfigError, match="conv_stem"):
        ViTShape("v", 64, 8, 32, 1, 2, 64, film_vocab=10)
    with pytest.raises(ShapeConfigError, match="conv_stem"):
        ViTShape("v", 64, 8, 32, 1, 2, 64, keypoints=True)


def test_spatial_softmax_finds_a_peak() -> None:
    x = torch.full((1, 2, 5, 9), -50.0)
    x[0, 0, 0, 8] = 50.0  # top-right corner
    x[0, 1, 2, 4] = 50.0  # centre
    kp = spatial_softmax(x)
    assert kp.shape == (1, 4)  # x of both channels, then y of both
    assert kp[0].tolist() == pytest.approx([1.0, 0.0, -1.0, 0.0], abs=1e-4)


def test_film_model_runs_staged_and_trace_counts_it() -> None:
    shape = film_pi0()
    model = random_model(shape)
    inputs = random_inputs(shape, batch=2)
    with torch.no_grad():
        mono = model(inputs)["actions"]
        staged = run_all_stages(model, inputs)["actions"]
    assert (mono - staged).abs().max().item() <= 1e-5
    patch = next(s for s in model.stages() if s.kind == "vision_patch")
    assert patch.reads == ("images", "tokens")
    assert patch.writes == ("vision.siglip.x", "vision.siglip.kp")
    proj = next(s for s in model.stages() if s.kind == "projector")
    assert "vision.siglip.kp" in proj.reads
    trace = build_trace(shape, granularity="block")
    assert trace.total_params() == count_params(build_model(shape))
    assert next(s for s in trace.stages if s.name == patch.name).reads == ("images", "tokens")
    # the keypoints change the actions: zeroing their projection changes the output
    with torch.no_grad():
        model.projector.keypoints["siglip"].weight.zero_()
        model.projector.keypoints["siglip"].bias.zero_()
        assert not torch.allclose(model(inputs)["actions"], mono)
    cmp = compare_flops(shape)
    assert abs(cmp.total_rel_error) <= 0.05
