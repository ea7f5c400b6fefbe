"""Array readers that check what a file declares before allocating it.

Files are untrusted: an ``.npz`` member or an HDF5 dataset declares its shape and dtype in a
header a few bytes long, and reading it allocates ``prod(shape) * itemsize`` bytes. A 9 KB sparse
HDF5 file can declare 11 GiB. These readers compare the declared size with a cap (bytes) first,
refuse object dtypes (no pickles), and name the file and the field in every error.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import VeccError

# Per array. The largest array the project writes is a demo camera stream (~10 MB at 128 px);
# 1 GiB leaves room for users' own data while a hostile header cannot take the machine.
DEFAULT_MAX_ARRAY_BYTES = 1 << 30


class FileFormatError(VeccError):
    """A file that is missing, truncated, of the wrong format, or declares too much."""


def declared_nbytes(shape: Iterable[int], dtype: np.dtype) -> int:
    """Bytes an array of ``shape`` and ``dtype`` takes (exact integer, no overflow)."""
    return math.prod(int(s) for s in shape) * int(np.dtype(dtype).itemsize)


def check_declared(
    where: str, shape: Iterable[int], dtype: Any, max_bytes: int = DEFAULT_MAX_ARRAY_BYTES
) -> None:
    """Raise FileFormatError unless an array of this shape/dtype is plain data under ``max_bytes``."""
    dt = np.dtype(dtype)
    if dt.hasobject:
        raise FileFormatError(f"{where}: dtype={dt} is not allowed; allowed: plain numeric arrays")
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise FileFormatError(f"{where}: shape={shape} has a negative dimension")
    n = declared_nbytes(shape, dt)
    if n > max_bytes:
        raise FileFormatError(
            f"{where}: declares shape={shape} dtype={dt} = {n:,} bytes; allowed: at most "
            f"{max_bytes:,} bytes per array"
        )


def read_npz(
    path: str | Path,
    names: Iterable[str] | None = None,
    max_bytes: int = DEFAULT_MAX_ARRAY_BYTES,
) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (``names``: those required; None: all), each checked first.

    Raises FileFormatError naming the file and the member for a missing file, a file that is not
    a zip, a member that is missing or not an ``.npy``, an object dtype, or a declared size (or a
    zip-declared uncompressed size) over ``max_bytes``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise FileFormatError(f"{path}: not an .npz file ({e})") from e
    with zf:
        members = {i.filename.removesuffix(".npy"): i for i in zf.infolist()}
        wanted = list(members) if names is None else list(names)
        missing = [n for n in wanted if n not in members]
        if missing:
            raise FileFormatError(
                f"{path}: lacks {', '.join(missing)}; present: {', '.join(sorted(members))}"
            )
        out: dict[str, np.ndarray] = {}
        for name in wanted:
            info = members[name]
            where = f"{path}:{name}"
            if info.file_size > max_bytes + 4096:  # the .npy header is at most a few KB
                raise FileFormatError(
                    f"{where}: member of {info.file_size:,} bytes; allowed: at most "
                    f"{max_bytes:,} bytes per array"
                )
            try:
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(f)
                    check_declared(where, shape, dtype, max_bytes)
                    with zf.open(info) as g:
                        arr = np.lib.format.read_array(g, allow_pickle=False)
            except FileFormatError:
                raise
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
                raise FileFormatError(f"{where}: not a readable .npy array ({e})") from e
            out[name] = arr
    return out
