"""LeRobotDataset v3 export of our demo HDF5: LeRobot's own reader loads it; training reads it back."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from agents.data import load_demos
from agents.errors import DatasetError
from agents.lerobot_format import load_any_demos, load_lerobot_demos, write_lerobot

CAMS = ("agentview_rgb", "wrist_rgb")
PROPRIO = ("eef_pos", "eef_quat", "gripper_qpos")


def _demo_file(path: Path, lens=(5, 7)) -> Path:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for i, t in enumerate(lens):
            g = f.create_group(f"data/demo_{i}")
            g.attrs["language"] = ["pick up the milk", "pick up the soup"][i % 2]
            for k in CAMS:
                g[f"obs/{k}"] = rng.integers(0, 256, (t, 16, 16, 3), dtype=np.uint8)
            g["obs/eef_pos"] = rng.normal(size=(t, 3))
            g["obs/eef_quat"] = rng.normal(size=(t, 4))
            g["obs/gripper_qpos"] = rng.normal(size=(t, 2))
            g["actions"] = rng.uniform(-1, 1, (t, 7)).astype(np.float32)
    return path


def test_round_trip_matches_hdf5(tmp_path):
    h5 = _demo_file(tmp_path / "d.hdf5")
    info = write_lerobot(h5, tmp_path / "ds", CAMS, PROPRIO, fps=20)
    assert info["total_frames"] == 12
    assert info["total_episodes"] == 2
    a = load_demos(h5, CAMS, PROPRIO, 16)
    b = load_lerobot_demos(tmp_path / "ds", CAMS, PROPRIO, 16)
    np.testing.assert_array_equal(a.images, b.images)  # PNG is lossless
    np.testing.assert_allclose(a.proprio, b.proprio, rtol=1e-6)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.demo_len, b.demo_len)
    assert a.languages == b.languages
    assert load_lerobot_demos(tmp_path / "ds", CAMS, PROPRIO, 16, max_demos=1).num_demos == 1


def test_lerobot_reader_loads_it(tmp_path):
    ledataset = pytest.importorskip("ledataset.datasets.lerobot_dataset")
    h5 = _demo_file(tmp_path / "d.hdf5")
    write_lerobot(h5, tmp_path / "ds", CAMS, PROPRIO, fps=20)
    ds = ledataset.LeRobotDataset("local/vecc_demo", root=tmp_path / "ds")
    assert len(ds) == 12
    assert ds.num_episodes == 2
    item = ds[6]  # frame 1 of episode 1
    assert int(item["episode_index"]) == 1
    assert int(item["frame_index"]) == 1
    assert item["task"] == "pick up the soup"
    with h5py.File(h5) as f:
        want_img = f["data/demo_1/obs/wrist_rgb"][1]
        want_act = f["data/demo_1/actions"][1]
    img = item["observation.images.wrist_rgb"]  # [C, H, W] float in [0, 1]
    np.testing.assert_allclose(img.permute(1, 2, 0).numpy() * 255, want_img, atol=0.5)
    np.testing.assert_allclose(item["action"].numpy(), want_act, rtol=1e-6)
    assert ds.meta.stats["action"]["mean"].shape == (7,)


def test_existing_root_refused(tmp_path):
    h5 = _demo_file(tmp_path / "d.hdf5")
    (tmp_path / "ds").mkdir()
    with pytest.raises(DatasetError, match="root="):
        write_lerobot(h5, tmp_path / "ds", CAMS, PROPRIO)


def test_load_any_demos_reads_a_lerobot_directory(tmp_path):
    h5 = _demo_file(tmp_path / "d.hdf5")
    write_lerobot(h5, tmp_path / "ds", CAMS, PROPRIO, fps=20)
    a = load_demos(h5, CAMS, PROPRIO, 16)
    b = load_any_demos(tmp_path / "ds", CAMS, PROPRIO, 16)  # what experiments.train calls
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.demo_start, b.demo_start)
    both = load_any_demos([h5, tmp_path / "ds"], CAMS, PROPRIO, 16, max_demos=3)
    assert both.num_demos == 3
    np.testing.assert_array_equal(both.actions[12:], a.actions[:5])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="is a directory"):
        load_any_demos(tmp_path / "empty", CAMS, PROPRIO, 16)


def test_written_from_libero_names(tmp_path):
    """Our loader's LIBERO aliases also hold for the writer: the same dataset comes out."""
    h5 = _demo_file(tmp_path / "d.hdf5")
    with h5py.File(h5, "a") as f:
        for i in (0, 1):
            obs = f[f"data/demo_{i}/obs"]
            obs.move("wrist_rgb", "eye_in_hand_rgb")
            obs.move("eef_pos", "ee_pos")
            obs.move("gripper_qpos", "gripper_states")
    write_lerobot(h5, tmp_path / "ds", CAMS, PROPRIO)
    b = load_lerobot_demos(tmp_path / "ds", CAMS, PROPRIO, 16)
    a = load_demos(h5, CAMS, PROPRIO, 16)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_allclose(a.proprio, b.proprio, rtol=1e-6)


def test_training_from_the_lerobot_directory_is_the_same_run(tmp_path):
    """Same frames in, same seed: the trainer cannot tell the two sources apart."""
    from agents.training import TrainConfig, train

    h5 = _demo_file(tmp_path / "d.hdf5", lens=(9, 11))
    write_lerobot(h5, tmp_path / "ds", CAMS, PROPRIO)
    kw = {
        "shape": "pi0-tiny",
        "steps": 3,
        "batch_size": 4,
        "save_every": 3,
        "log_every": 1,
        "progress": False,
        "wandb_mode": "disabled",
        "vocab_from_suites": False,
        "tokenizer_oov": "unk",
    }
    a = train(TrainConfig(demos=str(h5), out_dir=str(tmp_path / "a"), **kw))
    b = train(TrainConfig(demos=str(tmp_path / "ds"), out_dir=str(tmp_path / "b"), **kw))
    assert a.losses == b.losses
    wa = (a.checkpoint / "model.safetensors").read_bytes()
    assert wa == (b.checkpoint / "model.safetensors").read_bytes()
