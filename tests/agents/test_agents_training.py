"""Training on a tiny synthetic HDF5: determinism, resume, checkpoint contents, the CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from agents.data import action_chunks, load_demos
from agents.errors import AgentsError, CheckpointError, DatasetError
from agents.policy import load_policy, read_checkpoint_config
from agents.training import TrainConfig, train

torch.set_num_threads(1)
LANGS = ["put the bowl on the plate", "open the top drawer"]


def write_demos(
    path: Path, n_demos: int = 4, steps: int = 12, size: int = 32, seed: int = 0
) -> Path:
    """Robomimic-layout file like experiments.collect_demos writes (only the keys we read)."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        for i in range(n_demos):
            g = data.create_group(f"demo_{i}")
            obs = g.create_group("obs")
            obs["agentview_rgb"] = rng.integers(0, 255, (steps, size, size, 3), dtype=np.uint8)
            obs["wrist_rgb"] = rng.integers(0, 255, (steps, size, size, 3), dtype=np.uint8)
            a = rng.uniform(-0.5, 0.5, (steps, 7)).astype(np.float32)
            a[:, 6] = np.where(np.arange(steps) > steps // 2, 1.0, -1.0)
            # proprio carries the action, so a policy can actually learn this data
            obs["eef_pos"] = a[:, :3] * 2.0
            obs["eef_quat"] = np.concatenate([a[:, 3:6], a[:, 6:]], axis=1)
            obs["gripper_qpos"] = rng.normal(size=(steps, 2)).astype(np.float32)
            g["actions"] = a
            g.attrs["language"] = LANGS[i % 2]
            g.attrs["num_samples"] = steps
    return path


def _cfg(tmp: Path, demos: Path, **kw) -> TrainConfig:
    base = {
        "shape": "oft-tiny",
        "demos": str(demos),
        "out_dir": str(tmp),
        "steps": 4,
        "batch_size": 4,
        "save_every": 2,
        "log_every": 1,
        "num_threads": 1,
        "progress": False,
        "wandb_mode": "disabled",
        "warmup_steps": 2,
        "vocab_from_suites": False,
    }
    base.update(kw)
    return TrainConfig(**base)


def test_load_demos_and_chunks(tmp_path) -> None:
    p = write_demos(tmp_path / "d.hdf5", n_demos=2, steps=5)
    d = load_demos(p, ("agentview_rgb", "wrist_rgb"), ("eef_pos", "eef_quat", "gripper_qpos"), 64)
    assert d.images.shape == (10, 2, 64, 64, 3)
    assert d.images.dtype == np.uint8
    assert d.proprio.shape == (10, 9)
    ch = action_chunks(d, np.array([3, 5]), 4)
    assert np.array_equal(ch[0], d.actions[[3, 4, 4, 4]])  # clamped at the end of demo 0
    assert np.array_equal(ch[1], d.actions[[5, 6, 7, 8]])
    with pytest.raises(DatasetError, match="'joint_pos'"):
        load_demos(p, ("agentview_rgb",), ("joint_pos",), 64)


def test_load_demos_from_several_files_is_one_set(tmp_path) -> None:
    keys = (("agentview_rgb", "wrist_rgb"), ("eef_pos", "eef_quat", "gripper_qpos"), 32)
    a = write_demos(tmp_path / "a.hdf5", n_demos=2, steps=5, seed=0)
    b = write_demos(tmp_path / "b.hdf5", n_demos=3, steps=4, seed=1)
    da, db = load_demos(a, *keys), load_demos(b, *keys)
    both = load_demos([a, str(b)], *keys)
    assert both.num_demos == 5
    np.testing.assert_array_equal(both.demo_start, [0, 5, 10, 14, 18])
    np.testing.assert_array_equal(both.actions, np.concatenate([da.actions, db.actions]))
    np.testing.assert_array_equal(both.images[10:], db.images)
    # chunks never run from one file's last demo into the next file's first
    np.testing.assert_array_equal(action_chunks(both, np.array([9]), 3)[0], da.actions[[9, 9, 9]])
    assert load_demos([a, b], *keys, max_demos=3).num_demos == 3
    with pytest.raises(DatasetError, match="does not exist"):
        load_demos([a, tmp_path / "missing.hdf5"], *keys)
    with pytest.raises(DatasetError, match=r"demos=\[\]"):
        load_demos([], *keys)


@pytest.mark.parametrize("shape", ["openvla-tiny", "oft-tiny", "pi0-tiny", "cogact-tiny"])
def test_train_deterministic_and_resumable(tmp_path, shape: str) -> None:
    demos = write_demos(tmp_path / "d.hdf5")
    a = train(_cfg(tmp_path / "a", demos, shape=shape))
    b = train(_cfg(tmp_path / "b", demos, shape=shape, steps=2))
    b = train(_cfg(tmp_path / "b", demos, shape=shape, steps=4))  # resumes from step 2
    assert a.steps == b.steps == 4
    assert len(b.losses) == 2
    assert a.losses[2:] == b.losses
    # Training time accumulates across the resume.
    seconds = [
        read_checkpoint_config(tmp_path / "b" / "checkpoints" / f"step_{s:07d}")["extra"][
            "train_seconds"
        ]
        for s in (2, 4)
    ]
    assert 0 < seconds[0] < seconds[1]
    pa, pb = load_policy(a.checkpoint), load_policy(b.checkpoint)
    for k, v in pa.model.state_dict().items():
        assert torch.equal(v, pb.model.state_dict()[k]), k
    c = train(_cfg(tmp_path / "c", demos, shape=shape, seed=1, steps=2, save_every=2))
    assert c.losses != a.losses[:2]


def test_training_reduces_loss(tmp_path) -> None:
    demos = write_demos(tmp_path / "d.hdf5", n_demos=2, steps=8)
    r = train(
        _cfg(tmp_path / "r", demos, steps=25, batch_size=8, save_every=25, lr=2e-3, aug_shift_px=0)
    )
    assert np.mean(r.losses[-5:]) < 0.7 * np.mean(r.losses[:5])
    rows = [json.loads(x) for x in (tmp_path / "r" / "train_log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 25
    pol = load_policy(r.checkpoint, family="oft")
    assert pol.tokenizer.encode("open the top drawer", 16)[1] > 3


def test_vocab_covers_every_suite_instruction(tmp_path) -> None:
    from agents.tokenizer import EOS, split_words
    from agents.training import suite_instructions

    langs = suite_instructions()
    assert len(langs) >= 10
    demos = write_demos(tmp_path / "d.hdf5", n_demos=1, steps=4)
    r = train(_cfg(tmp_path / "v", demos, steps=1, save_every=1, vocab_from_suites=True))
    pol = load_policy(r.checkpoint)
    for text in langs:  # no OOV error, and no instruction is truncated
        ids = pol.tokenizer.encode(text, pol.shape.prompt_tokens)
        assert ids[len(split_words(text)) + 1] == EOS


@pytest.mark.parametrize("two_files", [False, True])
def test_cli_smoke(tmp_path, two_files: bool) -> None:
    demos = write_demos(tmp_path / "d.hdf5", n_demos=2, steps=6)
    more = write_demos(tmp_path / "e.hdf5", n_demos=1, steps=6, seed=1)
    out = tmp_path / "cli"
    cmd = [
        sys.executable,
        "-m",
        "experiments.train",
        "policy=pi0_tiny",
        f"demos=[{demos},{more}]" if two_files else f"demos={demos}",
        f"out_dir={out}",
        "steps=2",
        "batch_size=2",
        "save_every=2",
        "num_threads=1",
        "progress=false",
        "wandb_mode=disabled",
    ]
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=240, cwd=Path(__file__).parents[2]
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "checkpoints" / "step_0000002" / "model.safetensors").is_file()
    assert load_policy(out / "checkpoints" / "step_0000002").shape.name == "pi0-tiny"
    made_by = read_checkpoint_config(out / "checkpoints" / "step_0000002")["extra"]["train_config"]
    seen = made_by["extra"]["demos"]
    files = [demos, more] if two_files else [demos]
    assert [d["sha256"] for d in (seen if two_files else [seen])] == [
        hashlib.sha256(f.read_bytes()).hexdigest() for f in files
    ]
    assert made_by["extra"]["provenance"]["versions"]["torch"]


def test_policy_actor_acts_from_checkpoint(tmp_path, caplog) -> None:
    from agents.actor import PolicyActor
    from agents.errors import CheckpointError

    demos = write_demos(tmp_path / "d.hdf5", n_demos=2, steps=6)
    r = train(_cfg(tmp_path / "r", demos, shape="cogact-tiny", steps=2))
    actor = PolicyActor(str(r.checkpoint), shape="cogact-tiny", n_action_steps=3)

    class Env:
        language = LANGS[1]

    actor.reset(Env())
    rng = np.random.default_rng(0)
    obs = {
        "agentview_rgb": rng.integers(0, 255, (128, 128, 3), dtype=np.uint8),
        "wrist_rgb": rng.integers(0, 255, (128, 128, 3), dtype=np.uint8),
        "eef_pos": np.zeros(3, np.float32),
        "eef_quat": np.zeros(4, np.float32),
        "gripper_qpos": np.zeros(2, np.float32),
    }
    timed = []
    for _ in range(4):
        a = actor.act(obs, {})
        assert a.shape == (7,)
        timed.append(bool(actor.last_latency_ms))
    assert timed == [True, False, False, True]  # a new chunk every n_action_steps
    # 128 px frames for a 64 px model: evaluated off the training distribution, said once.
    warned = [r for r in caplog.records if "env.image_size=64" in r.getMessage()]
    assert len(warned) == 1
    with pytest.raises(CheckpointError, match=r"shape=.cogact-tiny.*requested shape=.oft-tiny."):
        PolicyActor(str(r.checkpoint), shape="oft-tiny")
    with pytest.raises(CheckpointError, match="checkpoint=None"):
        PolicyActor(None)


def test_relative_checkpoint_paths_fall_back_to_the_repository_root(tmp_path, monkeypatch):
    from agents.actor import REPO_ROOT, resolve_checkpoint

    monkeypatch.chdir(tmp_path)  # a cwd that holds no checkpoints/ directory
    assert resolve_checkpoint("agents") == REPO_ROOT / "agents"
    assert resolve_checkpoint("no/such/dir") == Path("no/such/dir")  # left for the clear error
    (tmp_path / "agents").mkdir()
    assert resolve_checkpoint("agents") == Path("agents")  # the cwd wins when it has the path


def test_keypoint_aux_loss_trains_and_stays_out_of_the_policy(tmp_path) -> None:
    from safetensors.torch import load_file

    from agents.zoo import build_model

    demos = write_demos(tmp_path / "d.hdf5", n_demos=2, steps=8)
    kw = {"shape": "pi0-tiny", "batch_size": 8, "lr": 2e-3, "aug_shift_px": 0}
    on = train(_cfg(tmp_path / "on", demos, steps=30, save_every=30, **kw))
    rows = [json.loads(x) for x in (tmp_path / "on" / "train_log.jsonl").read_text().splitlines()]
    aux = [r["aux_keypoint_loss"] for r in rows]
    assert np.mean(aux[-5:]) < 0.7 * np.mean(aux[:5])
    # the head lives in the training state, not in the policy's weights
    assert set(load_policy(on.checkpoint).model.state_dict()) == set(
        build_model("pi0-tiny").state_dict()
    )
    assert any(k.startswith("aux.") for k in load_file(on.checkpoint / "train_state.safetensors"))
    off = train(_cfg(tmp_path / "off", demos, steps=2, aux_keypoint_weight=0.0, **kw))
    assert off.steps == 2
    last = json.loads((tmp_path / "off" / "train_log.jsonl").read_text().splitlines()[-1])
    assert "aux_keypoint_loss" not in last
    # a run trained without the head cannot silently resume with a fresh one
    with pytest.raises(CheckpointError, match="auxiliary keypoint head"):
        train(_cfg(tmp_path / "off", demos, steps=4, **kw))
    with pytest.raises(AgentsError, match="aux_keypoint_weight"):
        _cfg(tmp_path / "x", demos, aux_keypoint_weight=-1.0).validate()
