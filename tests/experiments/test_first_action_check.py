"""First-action check: the policy's first action vs the demonstrations', real vs swapped images."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from experiments.first_action_check import (
    check,
    first_actions,
    format_table,
    pearson,
    swapped_within_instruction,
)


def _demos(path: Path, langs: list[str], steps: int = 3, size: int = 64) -> Path:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        for i, lang in enumerate(langs):
            g = data.create_group(f"demo_{i}")
            obs = g.create_group("obs")
            for cam in ("agentview_rgb", "wrist_rgb"):
                obs[cam] = rng.integers(0, 255, (steps, size, size, 3), dtype=np.uint8)
            obs["eef_pos"] = np.zeros((steps, 3), np.float32)  # the same start pose everywhere
            obs["eef_quat"] = np.tile(np.float32([1, 0, 0, 0]), (steps, 1))
            obs["gripper_qpos"] = np.zeros((steps, 2), np.float32)
            g["actions"] = rng.uniform(-1, 1, (steps, 7)).astype(np.float32)
            g.attrs["language"] = lang
    return path


def test_swap_stays_within_the_instruction_and_moves_every_demo():
    langs = ["a", "b", "a", "a", "b", "c"]
    idx = swapped_within_instruction(langs)
    assert sorted(idx.tolist()) == list(range(len(langs)))  # a permutation
    for i, j in enumerate(idx):
        assert langs[i] == langs[j]
        assert i != j or langs.count(langs[i]) == 1  # only a lone instruction maps to itself


def test_pearson_edges():
    x = np.arange(5.0)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert pearson(x, -x) == pytest.approx(-1.0)
    assert math.isnan(pearson(x, np.ones(5)))


def test_check_runs_a_checkpoint_and_the_images_matter(random_checkpoint, tmp_path):
    from agents.data import load_demos
    from agents.policy import load_policy

    langs = ["pick up the milk and place it in the basket"] * 3 + [
        "pick up the bread and place it in the basket"
    ] * 3
    demos = _demos(tmp_path / "d.hdf5", langs)
    result = check(random_checkpoint, demos, frame=1)
    assert set(result) == {"real", "swapped"}
    for r in result.values():
        assert set(r) == {"x", "y", "z"}
        assert all(math.isnan(v) or -1.0 <= v <= 1.0 for v in r.values())
    assert "| swapped |" in format_table(result, 1)

    policy = load_policy(random_checkpoint)
    data = load_demos(demos, policy.config.camera_keys, policy.config.proprio_keys, 64)
    rows = data.demo_start
    same = first_actions(policy, data, rows, rows)
    assert np.array_equal(same, first_actions(policy, data, rows, rows))
    other = first_actions(policy, data, rows, rows[swapped_within_instruction(data.languages)])
    assert not np.allclose(same, other)  # an untrained model still reads its images
    with pytest.raises(ValueError, match="frame=-1"):
        check(random_checkpoint, demos, frame=-1)
