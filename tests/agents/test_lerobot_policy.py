"""Checkpoints in LeRobot's layout: the files LeRobot writes, and a round trip to the same actions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from agents.errors import CheckpointError
from agents.lerobot_layout import POST_STATE, PRE_STATE
from agents.lerobot_policy import export_lerobot, save_lerobot_checkpoint
from agents.policy import PolicyConfig, VLAPolicy, load_policy, save_checkpoint
from tests.agents.random_policy import random_policy

torch.set_num_threads(1)
INSTR = ["put the bowl on the plate", "open the top drawer"]


def _policy(name: str) -> VLAPolicy:
    return random_policy(name, INSTR, PolicyConfig(n_action_steps=4, noise_seed=3))


def _obs(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "agentview_rgb": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
        "wrist_rgb": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
        "eef_pos": rng.normal(size=3).astype(np.float32),
        "eef_quat": rng.normal(size=4).astype(np.float32),
        "gripper_qpos": rng.normal(size=2).astype(np.float32),
    }


def _chunks(policy: VLAPolicy, n: int = 3) -> np.ndarray:
    policy.reset(language=INSTR[0])
    return np.stack([policy.predict_action_chunk(_obs(i))[0] for i in range(n)])


@pytest.mark.parametrize("name", ["pi0-tiny", "oft-tiny"])
def test_round_trip_same_actions(tmp_path, name: str) -> None:
    pol = _policy(name)
    src = save_checkpoint(tmp_path / "native", pol, extra={"step": 7})
    dst = export_lerobot(src, tmp_path / "lerobot", extra={"step": 7})
    back = load_policy(dst)  # load_policy recognises the layout
    assert back.shape == pol.shape
    assert back.config.noise_seed == 3
    want, got = _chunks(pol), _chunks(back)
    diff = float(np.abs(want - got).max())
    assert diff <= 1e-6, diff  # same weights and stats: exact in practice
    assert back.stats == pol.stats


def test_layout_is_lerobots(tmp_path) -> None:
    pol = _policy("pi0-tiny")
    root = save_lerobot_checkpoint(tmp_path / "ck", pol)
    cfg = json.loads((root / "config.json").read_text())
    assert cfg["type"] == "vecc_pi0"
    assert cfg["input_features"] == {
        "observation.images.agentview_rgb": {"type": "VISUAL", "shape": [3, 64, 64]},
        "observation.images.wrist_rgb": {"type": "VISUAL", "shape": [3, 64, 64]},
        "observation.state": {"type": "STATE", "shape": [9]},
    }
    assert cfg["output_features"] == {"action": {"type": "ACTION", "shape": [7]}}
    assert cfg["normalization_mapping"]["ACTION"] == "QUANTILES"
    assert (cfg["chunk_size"], cfg["n_action_steps"]) == (pol.shape.head.chunk, 4)
    pre = json.loads((root / "policy_preprocessor.json").read_text())
    assert [s["registry_name"] for s in pre["steps"]] == [
        "rename_observations_processor", "to_batch_processor", "device_processor",
        "normalizer_processor",
    ]  # fmt: skip
    assert pre["steps"][3]["state_file"] == PRE_STATE
    post = json.loads((root / "policy_postprocessor.json").read_text())
    assert [s["registry_name"] for s in post["steps"]] == [
        "unnormalizer_processor",
        "device_processor",
    ]
    stats = load_file(str(root / PRE_STATE))
    np.testing.assert_allclose(stats["observation.state.mean"], pol.stats.proprio_mean, rtol=1e-6)
    np.testing.assert_allclose(stats["action.q99"], pol.stats.action_q99, rtol=1e-6)
    assert set(load_file(str(root / POST_STATE))) == {
        "action.q01",
        "action.q99",
        "action.mean",
        "action.std",
    }


def test_refusals(tmp_path) -> None:
    pol = _policy("oft-tiny")
    root = save_lerobot_checkpoint(tmp_path / "ck", pol)
    with pytest.raises(CheckpointError, match="root="):
        save_lerobot_checkpoint(root, pol)
    with pytest.raises(CheckpointError, match="requested shape='pi0-tiny'"):
        load_policy(root, shape_name="pi0-tiny")
    # a normaliser file that no longer says what stats.json says
    state = load_file(str(root / PRE_STATE))
    state["action.q99"] = state["action.q99"] + 0.5
    save_file(state, str(root / PRE_STATE))
    with pytest.raises(CheckpointError, match=r"action\.q99 disagrees"):
        load_policy(root)
    # somebody else's LeRobot policy
    cfg = json.loads((root / "config.json").read_text())
    (root / "config.json").write_text(json.dumps({**cfg, "type": "act"}))
    with pytest.raises(CheckpointError, match="config type='act'"):
        load_policy(root)


def test_policy_actor_takes_the_directory(tmp_path) -> None:
    """policy.checkpoint=<LeRobot dir> in the main job: the actor loads it through load_policy."""
    from agents.actor import PolicyActor

    root = save_lerobot_checkpoint(tmp_path / "ck", _policy("pi0-tiny"))
    actor = PolicyActor(str(root), shape="pi0-tiny")
    assert actor.policy.shape.name == "pi0-tiny"
    assert actor.policy.config.n_action_steps == 4
