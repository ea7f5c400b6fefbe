"""Tokenizer, normalisation, policy interface and checkpoint validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agents.errors import CheckpointError, ObservationError, OutOfVocabularyError, TokenizerError
from agents.normalize import NormStats
from agents.policy import PolicyConfig, VLAPolicy, load_policy, save_checkpoint
from agents.tokenizer import BOS, EOS, PAD, UNK, WordTokenizer
from agents.zoo import TINY_SHAPES
from tests.agents.random_policy import random_policy

torch.set_num_threads(1)
INSTR = ["put the bowl on the plate", "open the top drawer", "Turn on the stove."]


def test_tokenizer_roundtrip_and_oov() -> None:
    tok = WordTokenizer.build(INSTR, capacity=256)
    ids = tok.encode("open the top drawer", 8)
    assert ids[0] == BOS
    assert ids[5] == EOS
    assert ids[6:] == [PAD, PAD]
    assert tok.decode(ids) == "open the top drawer"
    assert tok.encode("turn on the stove .", 8) == tok.encode("Turn on the stove.", 8)
    with pytest.raises(OutOfVocabularyError, match="'microwave'"):
        tok.encode("open the microwave", 8)
    unk = WordTokenizer.build(INSTR, capacity=256, oov="unk")
    assert UNK in unk.encode("open the microwave", 8)
    assert WordTokenizer.from_dict(tok.to_dict()).encode("open the top drawer", 8) == ids


def test_tokenizer_bad_config() -> None:
    with pytest.raises(TokenizerError, match="oov='ignore'"):
        WordTokenizer.build(INSTR, capacity=256, oov="ignore")
    with pytest.raises(TokenizerError, match="capacity=6"):
        WordTokenizer.build(INSTR, capacity=6)
    strict = WordTokenizer.build(INSTR, capacity=256, overflow="error")
    with pytest.raises(TokenizerError, match="length=4"):
        strict.encode("put the bowl on the plate", 4)
    loose = WordTokenizer.build(INSTR, capacity=256)
    assert loose.encode("put the bowl on the plate", 4)[-1] == EOS


def test_norm_stats_q01_q99() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5000, 7)).astype(np.float32)
    a[:, 6] = np.sign(a[:, 6])
    a[:, 2] = 0.3  # constant dim maps to 0
    st = NormStats.from_data(a, rng.normal(size=(5000, 9)))
    n = st.normalize_actions(a)
    assert n[:, :6].min() >= -1
    assert n[:, :6].max() <= 1
    assert np.all(n[:, 2] == 0)
    assert np.array_equal(n[:, 6], a[:, 6])  # gripper passes through
    inside = (a[:, 0] > st.action_q01[0]) & (a[:, 0] < st.action_q99[0])
    back = st.unnormalize_actions(n)
    assert np.allclose(back[inside, 0], a[inside, 0], atol=1e-5)


def _obs(rng: np.random.Generator, size: int = 96) -> dict:
    return {
        "agentview_rgb": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
        "wrist_rgb": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
        "eef_pos": rng.normal(size=3).astype(np.float32),
        "eef_quat": rng.normal(size=4).astype(np.float32),
        "gripper_qpos": rng.normal(size=2).astype(np.float32),
    }


def _policy(name: str) -> VLAPolicy:
    return random_policy(name, INSTR, PolicyConfig(n_action_steps=None))


@pytest.mark.parametrize("name", TINY_SHAPES)
def test_policy_chunk_and_queue(name: str) -> None:
    pol = _policy(name)
    rng = np.random.default_rng(2)
    obs = _obs(rng)
    pol.reset(language=INSTR[0])
    chunk, info = pol.predict_action_chunk(obs)
    assert chunk.shape == (pol.shape.head.chunk, 7)
    assert info["infer_ms"] > 0
    if name.startswith("openvla"):
        assert info["token_entropy"].shape == (7,)
        assert info["token_logits"].shape == (7, 256)
    # unnormalised into the stats' range
    assert np.all(chunk[:, :6] >= -0.5 - 1e-5)
    assert np.all(chunk[:, :6] <= 0.5 + 1e-5)
    pol.reset(language=INSTR[0])
    first = [pol.select_action(obs) for _ in range(pol.shape.head.chunk)]
    assert np.allclose(
        np.stack(first), chunk, atol=1e-6
    )  # queue replays the same chunk (same seed)
    assert pol._calls == 1
    pol.select_action(obs)
    assert pol._calls == 2


def test_policy_needs_language_and_keys() -> None:
    pol = _policy("oft-tiny")
    obs = _obs(np.random.default_rng(0))
    pol.reset()
    with pytest.raises(ObservationError, match="instruction"):
        pol.predict_action_chunk(obs)
    obs["language"] = INSTR[1]
    del obs["wrist_rgb"]
    with pytest.raises(ObservationError, match="wrist_rgb"):
        pol.predict_action_chunk(obs)


@pytest.mark.parametrize("name", ["openvla-tiny", "cogact-tiny"])
def test_checkpoint_roundtrip_exact(tmp_path, name: str) -> None:
    pol = _policy(name)
    save_checkpoint(tmp_path / "ckpt", pol, extra={"step": 3})
    back = load_policy(tmp_path / "ckpt", family=pol.shape.family)
    for k, v in pol.model.state_dict().items():
        assert torch.equal(v, back.model.state_dict()[k])
    obs = _obs(np.random.default_rng(3))
    pol.reset(INSTR[2])
    back.reset(INSTR[2])
    a, _ = pol.predict_action_chunk(obs)
    b, _ = back.predict_action_chunk(obs)
    assert np.array_equal(a, b)


def test_checkpoint_failures_are_clear(tmp_path) -> None:
    pol = _policy("oft-tiny")
    ck = save_checkpoint(tmp_path / "c", pol)
    with pytest.raises(CheckpointError, match=r"family='oft'.*requested family='pi0'"):
        load_policy(ck, family="pi0")
    with pytest.raises(CheckpointError, match="not a directory"):
        load_policy(tmp_path / "nope")
    # truncated weights
    w = ck / "model.safetensors"
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_policy(ck)
    # truncated and sha "fixed" by hand: safetensors itself must refuse it
    cfg = json.loads((ck / "config.json").read_text())
    import hashlib

    cfg["weights_sha256"] = hashlib.sha256(w.read_bytes()).hexdigest()
    (ck / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="safetensors"):
        load_policy(ck)
    # missing stats
    ck2 = save_checkpoint(tmp_path / "d", pol)
    (ck2 / "stats.json").unlink()
    with pytest.raises(CheckpointError, match="normalisation stats"):
        load_policy(ck2)
    # stats of the wrong size
    ck3 = save_checkpoint(tmp_path / "e", pol)
    st = json.loads((ck3 / "stats.json").read_text())
    st["action_q01"] = st["action_q01"][:5]
    (ck3 / "stats.json").write_text(json.dumps(st))
    with pytest.raises(CheckpointError, match="action_q01"):
        load_policy(ck3)
    # corrupt config
    ck4 = save_checkpoint(tmp_path / "f", pol)
    (ck4 / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_policy(ck4)


def test_checkpoint_weights_from_another_shape(tmp_path) -> None:
    a = save_checkpoint(tmp_path / "a", _policy("oft-tiny"))
    b = save_checkpoint(tmp_path / "b", _policy("cogact-tiny"))
    (a / "model.safetensors").write_bytes((b / "model.safetensors").read_bytes())
    cfg = json.loads((a / "config.json").read_text())
    cfg["weights_sha256"] = json.loads((b / "config.json").read_text())["weights_sha256"]
    (a / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not match shape 'oft-tiny'"):
        load_policy(a)


@pytest.mark.parametrize("name", TINY_SHAPES)
def test_sample_spread_is_the_uncertainty_of_flow_and_diffusion_families(name: str) -> None:
    obs = _obs(np.random.default_rng(3))
    plain = _policy(name)
    plain.reset(language=INSTR[0])
    chunk, info = plain.predict_action_chunk(obs)
    assert "sample_spread" not in info  # off by default: it costs extra forwards
    spread = _policy(name)
    spread.config.spread_samples = 4
    spread.reset(language=INSTR[0])
    chunk4, info4 = spread.predict_action_chunk(obs)
    np.testing.assert_array_equal(chunk4, chunk)  # the acted chunk does not depend on it
    if name.split("-")[0] in ("pi0", "cogact"):
        assert info4["sample_spread"] > 0  # different noise -> different chunks
        assert info4["spread_ms"] > 0
    else:  # no sampling noise: nothing to spread over
        assert "sample_spread" not in info4


@pytest.mark.parametrize("name", ["pi0-tiny", "cogact-tiny"])
def test_noise_scale_zero_is_deterministic_and_scales_the_drawn_noise(name: str) -> None:
    obs = _obs(np.random.default_rng(4))
    chunks = {}
    for seed in (0, 1):
        pol = _policy(name)
        pol.config.noise_seed = seed
        pol.reset(language=INSTR[0])
        chunks[seed] = pol.predict_action_chunk(obs)[0]
    assert not np.allclose(chunks[0], chunks[1])  # unit noise: the seed matters
    zero = {}
    for seed in (0, 1):
        pol = _policy(name)
        pol.config.noise_seed, pol.config.noise_scale = seed, 0.0
        pol.reset(language=INSTR[0])
        zero[seed] = pol.predict_action_chunk(obs)[0]
        assert torch.count_nonzero(pol.model_inputs(obs | {"language": INSTR[0]})["noise"]) == 0
    np.testing.assert_array_equal(zero[0], zero[1])  # no noise: the seed does not
    unit, half = _policy(name), _policy(name)
    half.config.noise_scale = 0.5
    for p in (unit, half):
        p.reset(language=INSTR[0])
    torch.testing.assert_close(
        half.model_inputs(obs)["noise"], 0.5 * unit.model_inputs(obs)["noise"]
    )


def test_noise_scale_is_validated_and_saved(tmp_path) -> None:
    from agents.actor import PolicyActor
    from agents.errors import AgentsError

    pol = _policy("pi0-tiny")
    pol.config.noise_scale = 0.25
    save_checkpoint(tmp_path / "ckpt", pol)
    assert load_policy(tmp_path / "ckpt").config.noise_scale == 0.25
    for bad in (-0.1, float("nan")):
        with pytest.raises(AgentsError, match=r"policy\.noise_scale"):
            PolicyActor(str(tmp_path / "ckpt"), noise_scale=bad)
    with pytest.raises(AgentsError, match="spread_samples"):
        PolicyActor(str(tmp_path / "ckpt"), noise_scale=0.0, spread_samples=4)
    assert PolicyActor(str(tmp_path / "ckpt"), noise_scale=0.0).policy.config.noise_scale == 0.0
