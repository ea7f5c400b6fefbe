"""Every input file a run's config names is recorded with its sha256 (results must say what went in)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.provenance import input_fingerprints


def test_files_and_checkpoint_dirs_are_fingerprinted(tmp_path: Path) -> None:
    trace = tmp_path / "up.trace"
    trace.write_text("1\n2\n")
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    (ckpt / "model.safetensors").write_bytes(b"w" * 10)
    (ckpt / "train_state.json").write_text("{}")  # not read by an evaluation: not listed
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    config = {
        "network": {"trace": {"up": str(trace), "down": None}},
        "policy": {"checkpoint": str(ckpt)},
        "out": str(outputs),
        "suite": "object",
        "demos": [str(trace), "missing.hdf5"],
    }
    found = input_fingerprints(config, base=tmp_path)
    assert found["network.trace.up"]["sha256"] == hashlib.sha256(b"1\n2\n").hexdigest()
    assert found["demos[0]"]["bytes"] == 4
    assert set(found["policy.checkpoint"]) == {"config.json", "model.safetensors"}
    assert found["policy.checkpoint"]["model.safetensors"]["sha256"] == (
        hashlib.sha256(b"w" * 10).hexdigest()
    )
    assert not {"out", "suite", "demos[1]"} & set(found)


def test_relative_paths_resolve_against_base(tmp_path: Path) -> None:
    (tmp_path / "calib.npz").write_bytes(b"x")
    found = input_fingerprints({"scheduler": {"calibration": "calib.npz"}}, base=tmp_path)
    assert found["scheduler.calibration"]["sha256"] == hashlib.sha256(b"x").hexdigest()
