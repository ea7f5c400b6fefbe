"""Loaders check what a file declares before allocating it (issue 22): hostile npz and HDF5 files."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from agents.data import load_demos
from agents.errors import DatasetError
from core.bounded_io import FileFormatError, read_npz
from core.errors import VeccError


def _npz_declaring(path: Path, shape: tuple[int, ...], dtype: str = "<f8") -> Path:
    """An npz whose member header declares ``shape`` but holds only a few bytes of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("states.npy", header.getvalue() + b"\0" * 16)
    return path


def test_read_npz_round_trip_and_required_names(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    np.savez(path, x=np.arange(5), y=np.ones((2, 3)))
    out = read_npz(path, ["x", "y"])
    np.testing.assert_array_equal(out["x"], np.arange(5))
    assert out["y"].shape == (2, 3)
    with pytest.raises(FileFormatError, match=r"lacks z; present: x, y"):
        read_npz(path, ["z"])


def test_npz_declaring_98_gb_is_refused_without_allocating(tmp_path: Path) -> None:
    path = _npz_declaring(tmp_path / "huge.npz", (10**6, 64, 64, 3))
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match=r"huge.npz:states: declares shape=\(1000000, 64"):
            read_npz(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"not a zip", "not an .npz file"), (b"PK\x03\x04garbage", "not an .npz file")],
)
def test_npz_garbage_is_a_clear_error(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=match) as info:
        read_npz(path)
    assert isinstance(info.value, VeccError)


def test_npz_truncated_member_and_object_dtype(tmp_path: Path) -> None:
    truncated = _npz_declaring(tmp_path / "short.npz", (100, 100))
    with pytest.raises(FileFormatError, match=r"short.npz:states: not a readable .npy array"):
        read_npz(truncated)
    obj = tmp_path / "obj.npz"
    np.savez(obj, o=np.array([{"a": 1}], dtype=object))
    with pytest.raises(FileFormatError, match=r"dtype=object is not allowed"):
        read_npz(obj)


def test_sparse_hdf5_declaring_11_gib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sparse.hdf5"
    with h5py.File(path, "w") as f:
        g = f.create_group("data/demo_0")
        g.attrs["language"] = "pick"
        g.create_dataset("obs/agentview_rgb", shape=(10**6, 64, 64, 3), dtype=np.uint8)
        g.create_dataset("obs/eef_pos", shape=(10**6, 3), dtype=np.float32)
        g.create_dataset("actions", shape=(10**6, 7), dtype=np.float32)
    assert path.stat().st_size < 64 * 1024  # nothing is stored: the file only declares
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match=r"demo_0/obs/agentview_rgb: declares shape"):
            load_demos(path, ("agentview_rgb",), ("eef_pos",), image_size=64)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_hdf5_datasets_that_disagree_on_steps(tmp_path: Path) -> None:
    path = tmp_path / "ragged.hdf5"
    with h5py.File(path, "w") as f:
        g = f.create_group("data/demo_0")
        g.attrs["language"] = "pick"
        g.create_dataset("obs/agentview_rgb", data=np.zeros((4, 8, 8, 3), np.uint8))
        g.create_dataset("obs/eef_pos", data=np.zeros((4, 3), np.float32))
        g.create_dataset("actions", data=np.zeros((3, 7), np.float32))
    with pytest.raises(DatasetError, match=r"disagree on the number of steps"):
        load_demos(path, ("agentview_rgb",), ("eef_pos",), image_size=8)
