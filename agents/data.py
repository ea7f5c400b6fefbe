"""Demonstrations (robomimic/LIBERO-layout HDF5) as in-memory arrays and seeded batches.

Layout read: ``data/demo_N/obs/<key>`` (images uint8 [T, H, W, 3], proprio [T, d]),
``data/demo_N/actions`` [T, 7], ``data/demo_N.attrs["language"]``. An obs key may be stored
under our name or LIBERO's (``agents.libero_keys``: ``wrist_rgb`` / ``eye_in_hand_rgb``,
``eef_quat`` / ``ee_ori`` as axis-angle, ...), so a LIBERO dataset file loads with our keys;
images of a file whose ``data`` attrs say ``macros_image_convention="opengl"`` (LIBERO's
default: rows bottom-up) are flipped to our top-down rows. A directory holding
``meta/info.json`` is a LeRobotDataset: ``agents.lerobot_format.load_any_demos`` reads
either (this module never imports that one: it builds on this). Images are resized
to the model's input size once at load and kept as uint8 (64x64x3 x 2 cameras is
~25 KB a step). A sample at step t is the observation at t and the action chunk
t..t+chunk-1; past the end of a demo the last action is repeated (the robot holds).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from agents.errors import DatasetError
from agents.libero_keys import LIBERO_NAME, OUR_NAME, axisangle_to_quat_xyzw, quat_xyzw_to_axisangle
from agents.preprocess import images_to_tensor
from core.bounded_io import DEFAULT_MAX_ARRAY_BYTES, FileFormatError, check_declared
from core.errors import not_allowed

log = logging.getLogger(__name__)


@dataclass
class DemoArrays:
    """All demos concatenated: images [N, cams, S, S, 3] uint8, proprio [N, P], actions [N, A]."""

    images: np.ndarray
    proprio: np.ndarray
    actions: np.ndarray
    demo_start: np.ndarray  # [D] first row of each demo
    demo_len: np.ndarray  # [D]
    demo_of_row: np.ndarray  # [N]
    languages: list[str]  # [D]

    @property
    def num_demos(self) -> int:
        return len(self.demo_len)


def _resize_uint8(frames: np.ndarray, size: int) -> np.ndarray:
    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    x = images_to_tensor(frames, size)  # [-1, 1]
    return ((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def demo_files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """The demo files a ``demos`` value names: one path, or a list of them, in order."""
    return [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]


def _resolve_obs(obs: h5py.Group, key: str, where: str) -> tuple[str, Any]:
    """(stored name, conversion or None) of obs ``key``: ours, LIBERO's, or an orientation
    converted between our quaternion and LIBERO's axis-angle."""
    if key in obs:
        return key, None
    for other in (LIBERO_NAME.get(key), OUR_NAME.get(key)):
        if other is not None and other in obs:
            return other, None
    if key == "eef_quat" and "ee_ori" in obs:
        return "ee_ori", axisangle_to_quat_xyzw
    if key == "ee_ori" and "eef_quat" in obs:
        return "eef_quat", quat_xyzw_to_axisangle
    names = [n for n in (key, LIBERO_NAME.get(key), OUR_NAME.get(key)) if n is not None]
    raise DatasetError(
        f"{where}/obs lacks {key!r} (looked for {sorted(set(names))}); present: {sorted(obs.keys())}"
    )


def read_obs(obs: h5py.Group, key: str, where: str) -> np.ndarray:
    """One obs array by our or LIBERO's name (size checked before it is read)."""
    name, convert = _resolve_obs(obs, key, where)
    _checked_rows(f"{where}/obs/{name}", obs[name])
    arr = np.asarray(obs[name])
    return arr if convert is None else convert(arr).astype(np.float32)


def _read_demo(
    g: h5py.Group,
    where: str,
    camera_keys: tuple[str, ...],
    proprio_keys: tuple[str, ...],
    image_size: int,
    flip_rows: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """One demo group: images [T, cams, S, S, 3], proprio [T, P], actions [T, A], language.

    ``flip_rows``: the file stores images bottom-up (robosuite's "opengl" convention).
    """
    if "obs" not in g:
        raise DatasetError(f"{where} lacks the 'obs' group")
    names = {k: _resolve_obs(g["obs"], k, where)[0] for k in (*camera_keys, *proprio_keys)}
    if "language" not in g.attrs:
        raise DatasetError(f"{where} lacks the 'language' attribute")
    if "actions" not in g:
        raise DatasetError(f"{where} lacks 'actions'")
    # A file is untrusted: check what each dataset declares before reading (allocating) it.
    datasets = {f"obs/{n}": g["obs"][n] for n in names.values()}
    datasets["actions"] = g["actions"]
    steps = {name: _checked_rows(f"{where}/{name}", d) for name, d in datasets.items()}
    if len(set(steps.values())) != 1:
        raise DatasetError(f"{where}: datasets disagree on the number of steps: {steps}")
    cams = []
    for k in camera_keys:
        frames = read_obs(g["obs"], k, where)
        cams.append(_resize_uint8(frames[:, ::-1] if flip_rows else frames, image_size))
    proprio = np.concatenate(
        [read_obs(g["obs"], k, where).astype(np.float32) for k in proprio_keys], -1
    )
    lang = g.attrs["language"]
    return (
        np.stack(cams, axis=1),
        proprio,
        np.asarray(g["actions"], dtype=np.float32),
        lang.decode() if isinstance(lang, bytes) else str(lang),
    )


def rows_flipped(data: h5py.Group) -> bool:
    """True when a file's images are stored bottom-up (``macros_image_convention="opengl"``)."""
    conv = data.attrs.get("macros_image_convention", "opencv")
    conv = conv.decode() if isinstance(conv, bytes) else str(conv)
    if conv not in ("opencv", "opengl"):
        raise DatasetError(not_allowed("macros_image_convention", conv, ["opencv", "opengl"]))
    return conv == "opengl"


def _checked_rows(where: str, dataset: object) -> int:
    """Steps (first dimension) of an HDF5 dataset, after checking its declared size and dtype.

    The cap is ``core.bounded_io.DEFAULT_MAX_ARRAY_BYTES`` (1 GiB) per dataset: a demo camera
    stream is ~10 MB at 128 px, while a 9 KB sparse file can declare 11 GiB.
    """
    if not isinstance(dataset, h5py.Dataset):
        raise DatasetError(f"{where} is not a dataset")
    if dataset.ndim == 0:
        raise DatasetError(not_allowed(f"{where}: shape", (), "[steps, ...]"))
    try:
        check_declared(where, dataset.shape, dataset.dtype, DEFAULT_MAX_ARRAY_BYTES)
    except FileFormatError as e:
        raise DatasetError(str(e)) from None
    return int(dataset.shape[0])


def load_demos(
    paths: str | Path | Sequence[str | Path],
    camera_keys: tuple[str, ...],
    proprio_keys: tuple[str, ...],
    image_size: int,
    max_demos: int | None = None,
) -> DemoArrays:
    """Read every ``data/demo_*`` group (sorted by index) of each file, in order, into memory.

    Several files (e.g. two collections with different seeds) are concatenated as one set;
    ``max_demos`` counts over all of them.
    """
    files = demo_files(paths)
    if not files:
        raise DatasetError(not_allowed("demos", [], "an HDF5 path or a list of them"))
    demos: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]] = []
    for p in files:
        left = None if max_demos is None else max_demos - len(demos)
        if left is not None and left <= 0:
            break
        if p.is_dir():
            raise DatasetError(
                f"demos path={str(p)!r} is a directory; a LeRobotDataset root is read by "
                "agents.lerobot_format.load_any_demos (what experiments.train calls)"
            )
        if not p.is_file():
            raise DatasetError(f"demos path={str(p)!r} does not exist")
        with h5py.File(p, "r") as f:
            if "data" not in f:
                raise DatasetError(
                    f"{p} has no 'data' group; allowed: robomimic layout data/demo_N/..."
                )
            names = sorted(
                (k for k in f["data"] if k.startswith("demo_")), key=lambda k: int(k.split("_")[1])
            )
            if not names:
                raise DatasetError(f"{p} has no data/demo_* groups")
            flip = rows_flipped(f["data"])
            for name in names[:left]:
                g = f["data"][name]
                demos.append(
                    _read_demo(g, f"{p}:data/{name}", camera_keys, proprio_keys, image_size, flip)
                )
    imgs, props, acts, langs = zip(*demos, strict=True)
    lens_arr = np.array([len(a) for a in acts])
    log.info("loaded %d demos, %d steps from %s", len(demos), int(lens_arr.sum()), files)
    return DemoArrays(
        images=np.concatenate(imgs),
        proprio=np.concatenate(props),
        actions=np.concatenate(acts),
        demo_start=np.concatenate([[0], np.cumsum(lens_arr)[:-1]]).astype(np.int64),
        demo_len=lens_arr,
        demo_of_row=np.repeat(np.arange(len(demos)), lens_arr),
        languages=list(langs),
    )


def concat_demos(parts: Sequence[DemoArrays]) -> DemoArrays:
    """Several demo sets as one, in order (demo indices renumbered)."""
    if not parts:
        raise DatasetError(not_allowed("demos", [], "at least one demo set"))
    lens = np.concatenate([p.demo_len for p in parts])
    return DemoArrays(
        images=np.concatenate([p.images for p in parts]),
        proprio=np.concatenate([p.proprio for p in parts]),
        actions=np.concatenate([p.actions for p in parts]),
        demo_start=np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64),
        demo_len=lens,
        demo_of_row=np.repeat(np.arange(len(lens)), lens),
        languages=[lang for p in parts for lang in p.languages],
    )


def action_chunks(d: DemoArrays, rows: np.ndarray, chunk: int) -> np.ndarray:
    """[B, chunk, A]: actions rows..rows+chunk-1, clamped to the end of each demo."""
    demo = d.demo_of_row[rows]
    last = d.demo_start[demo] + d.demo_len[demo] - 1
    idx = np.minimum(rows[:, None] + np.arange(chunk)[None, :], last[:, None])
    return d.actions[idx]


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """DrQ-style augmentation: replicate-pad by ``pad`` px and crop back at a random offset."""
    if pad <= 0:
        return images
    n, c, h, w = images.shape
    x = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (oy[:, None] + torch.arange(h)[None]).view(n, 1, h, 1).expand(n, c, h, w + 2 * pad)
    cols = (ox[:, None] + torch.arange(w)[None]).view(n, 1, 1, w).expand(n, c, h, w)
    return x.gather(2, rows).gather(3, cols)
