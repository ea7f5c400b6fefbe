"""Demonstrations as a LeRobotDataset (codebase v3.0 layout): write from our HDF5, read back.

Layout written (what ``lerobot.datasets.LeRobotDataset(repo_id, root=DIR)`` reads)::

    meta/info.json                         codebase_version v3.0, fps, features, totals, paths
    meta/stats.json                        per feature: min/max/mean/std/count (images per channel, [0, 1])
    meta/tasks.parquet                     index: task string, column task_index
    meta/episodes/chunk-000/file-000.parquet   one row per episode: length, tasks, frame ranges
    data/chunk-000/file-000.parquet        one row per frame

Features: ``observation.images.<camera>`` (dtype ``image``: PNG bytes in the parquet, the v3
image-feature storage; no videos, so no codec loss), ``observation.<proprio key>`` float32,
``observation.state`` (the proprio keys concatenated), ``action`` float32 [7], and LeRobot's
timestamp / frame_index / episode_index / index / task_index.

pandas, pyarrow and imageio are imported inside the functions: only the LeRobot interop needs them.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from agents.data import (
    DemoArrays,
    _resize_uint8,
    concat_demos,
    demo_files,
    load_demos,
    read_obs,
    rows_flipped,
)
from agents.errors import DatasetError
from agents.libero_keys import LIBERO_NAME, OUR_NAME
from core.bounded_io import DEFAULT_MAX_ARRAY_BYTES, FileFormatError, check_declared
from core.errors import not_allowed

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
IMAGE_PREFIX = "observation.images."


def is_lerobot_dir(path: str | Path) -> bool:
    """True when ``path`` is a directory holding ``meta/info.json`` (a LeRobotDataset root)."""
    return (Path(path) / "meta" / "info.json").is_file()


def _png(frame: np.ndarray) -> bytes:
    import imageio.v3 as iio  # only image features need an encoder

    buf = io.BytesIO()
    iio.imwrite(buf, frame, extension=".png")
    return buf.getvalue()


def _stats(x: np.ndarray) -> dict[str, list]:
    """min/max/mean/std over axis 0 (per channel for [N, H, W, C] images, scaled to [0, 1])."""
    if x.ndim == 4:  # images: LeRobot keeps stats per channel as [C, 1, 1] of [0, 1] pixels
        x = x.astype(np.float64) / 255.0
        axes = (0, 1, 2)
        shape = (x.shape[-1], 1, 1)
    else:
        x = x.astype(np.float64)
        axes = (0,)
        shape = x.shape[1:]
    return {
        "min": x.min(axes).reshape(shape).tolist(),
        "max": x.max(axes).reshape(shape).tolist(),
        "mean": x.mean(axes).reshape(shape).tolist(),
        "std": x.std(axes).reshape(shape).tolist(),
        "count": [int(x.shape[0])],
    }


def _read_group(
    g: h5py.Group, where: str, keys: tuple[str, ...], flip_rows: bool, cameras: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """``obs/<key>`` for ``keys`` (our or LIBERO's names) and ``actions``, sizes checked first."""
    if "obs" not in g or "actions" not in g:
        raise DatasetError(f"{where} lacks 'obs' or 'actions'; present: {sorted(g.keys())}")
    out = {}
    for k in keys:
        arr = read_obs(g["obs"], k, where)
        out[f"obs/{k}"] = arr[:, ::-1] if flip_rows and k in cameras else arr
    try:
        check_declared(
            f"{where}/actions", g["actions"].shape, g["actions"].dtype, DEFAULT_MAX_ARRAY_BYTES
        )
    except FileFormatError as e:
        raise DatasetError(str(e)) from None
    out["actions"] = np.asarray(g["actions"])
    return out


def write_lerobot(
    hdf5: str | Path | list[str | Path],
    root: str | Path,
    camera_keys: tuple[str, ...],
    proprio_keys: tuple[str, ...],
    fps: int = 20,
    robot_type: str = "panda",
) -> dict[str, Any]:
    """Write the demos of ``hdf5`` (robomimic layout) as a LeRobotDataset at ``root``; returns info.

    ``fps`` is the control rate (Hz) the timestamps count in. ``root`` must not exist yet.
    """
    # Only the LeRobot interop needs pandas/pyarrow (the `lerobot` and `test` extras; lerobot installs both).
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    if root.exists():
        raise DatasetError(not_allowed("root", str(root), "a path that does not exist yet"))
    cols: dict[str, list] = {}
    arrays: dict[str, list[np.ndarray]] = {}
    episodes: list[dict[str, Any]] = []
    tasks: dict[str, int] = {}
    index = 0
    for p in demo_files(hdf5):
        with h5py.File(p, "r") as f:
            if "data" not in f:
                raise DatasetError(
                    f"{p} has no 'data' group; allowed: robomimic layout data/demo_N/..."
                )
            flip = rows_flipped(f["data"])
            names = sorted(
                (k for k in f["data"] if k.startswith("demo_")), key=lambda k: int(k[5:])
            )
            for name in names:
                g = f["data"][name]
                lang = g.attrs["language"]
                lang = lang.decode() if isinstance(lang, bytes) else str(lang)
                d = _read_group(
                    g, f"{p}:data/{name}", (*camera_keys, *proprio_keys), flip, camera_keys
                )
                t = len(d["actions"])
                task = tasks.setdefault(lang, len(tasks))
                ep = len(episodes)
                feats = {f"{IMAGE_PREFIX}{k}": d[f"obs/{k}"] for k in camera_keys}
                feats |= {
                    f"observation.{k}": d[f"obs/{k}"].astype(np.float32) for k in proprio_keys
                }
                feats["observation.state"] = np.concatenate(
                    [d[f"obs/{k}"].astype(np.float32) for k in proprio_keys], -1
                )
                feats["action"] = d["actions"].astype(np.float32)
                for key, v in feats.items():
                    arrays.setdefault(key, []).append(v)
                    if key.startswith(IMAGE_PREFIX):
                        cols.setdefault(key, []).extend(
                            {"bytes": _png(fr), "path": None} for fr in v
                        )
                    else:
                        cols.setdefault(key, []).extend(v.tolist())
                cols.setdefault("timestamp", []).extend(
                    (np.arange(t) / fps).astype(np.float32).tolist()
                )
                cols.setdefault("frame_index", []).extend(range(t))
                cols.setdefault("episode_index", []).extend([ep] * t)
                cols.setdefault("index", []).extend(range(index, index + t))
                cols.setdefault("task_index", []).extend([task] * t)
                episodes.append(
                    {
                        "episode_index": ep,
                        "tasks": [lang],
                        "length": t,
                        "data/chunk_index": 0,
                        "data/file_index": 0,
                        "dataset_from_index": index,
                        "dataset_to_index": index + t,
                        "meta/episodes/chunk_index": 0,
                        "meta/episodes/file_index": 0,
                    }
                )
                index += t
    if not episodes:
        raise DatasetError(f"{hdf5} holds no data/demo_* groups")
    features: dict[str, dict[str, Any]] = {}
    for key, parts in arrays.items():
        shape = list(parts[0].shape[1:])
        if key.startswith(IMAGE_PREFIX):
            features[key] = {
                "dtype": "image",
                "shape": shape,
                "names": ["height", "width", "channel"],
            }
        else:
            features[key] = {"dtype": "float32", "shape": shape, "names": None}
    features |= {
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
    }
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = []
    for key in cols:
        ft = features[key]
        if ft["dtype"] == "image":
            schema.append((key, image_type))
        elif ft["shape"] == [1]:
            schema.append((key, pa.int64() if ft["dtype"] == "int64" else pa.float32()))
        else:
            schema.append((key, pa.list_(pa.float32(), ft["shape"][0])))
    table = pa.table({k: pa.array(cols[k], type=t) for k, t in schema})
    data_file = root / DATA_PATH.format(chunk_index=0, file_index=0)
    data_file.parent.mkdir(parents=True)
    pq.write_table(table, data_file)
    (root / EPISODES_PATH).parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(episodes), root / EPISODES_PATH)
    # LeRobot reads tasks with pandas: the task strings are the frame's index.
    pd.DataFrame({"task_index": list(tasks.values())}, index=list(tasks)).to_parquet(
        root / "meta" / "tasks.parquet"
    )
    stats = {k: _stats(np.concatenate(v)) for k, v in arrays.items()}
    (root / "meta" / "stats.json").write_text(json.dumps(stats))
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": len(episodes),
        "total_frames": index,
        "total_tasks": len(tasks),
        "chunks_size": 1000,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 200,
        "fps": fps,
        "splits": {"train": f"0:{len(episodes)}"},
        "data_path": DATA_PATH,
        "video_path": None,
        "features": features,
    }
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=2))
    return info


def _feature(feats: dict[str, Any], prefix: str, key: str, root: Path) -> str:
    """The feature column of obs ``key``: ``<prefix><key>``, else under LIBERO's name for it."""
    for name in (key, LIBERO_NAME.get(key), OUR_NAME.get(key)):
        if name is not None and f"{prefix}{name}" in feats:
            return f"{prefix}{name}"
    raise DatasetError(f"{root}: feature {prefix}{key!r} missing; present: {sorted(feats)}")


def load_lerobot_demos(
    root: str | Path,
    camera_keys: tuple[str, ...],
    proprio_keys: tuple[str, ...],
    image_size: int,
    max_demos: int | None = None,
) -> DemoArrays:
    """A LeRobotDataset directory (v3.0, image features) as ``DemoArrays`` (what training reads).

    Camera keys map to ``observation.images.<key>``, proprio keys to ``observation.<key>`` (or
    the feature under LIBERO's name for the key, ``agents.libero_keys``).
    """
    import imageio.v3 as iio  # only the LeRobot interop needs these
    import pyarrow.parquet as pq

    root = Path(root)
    info = json.loads((root / "meta" / "info.json").read_text())
    if not str(info.get("codebase_version", "")).startswith("v3"):
        raise DatasetError(not_allowed("codebase_version", info.get("codebase_version"), "v3.x"))
    feats = info["features"]
    cam_col = {k: _feature(feats, IMAGE_PREFIX, k, root) for k in camera_keys}
    prop_col = {k: _feature(feats, "observation.", k, root) for k in proprio_keys}
    want = [*cam_col.values(), *prop_col.values()]
    for key in cam_col.values():
        if feats[key]["dtype"] != "image":
            raise DatasetError(
                not_allowed(f"{key}.dtype", feats[key]["dtype"], "image (videos: not read here)")
            )
    files = sorted((root / "data").glob("*/*.parquet"))
    table = (
        pq.read_table(files, columns=[*want, "action", "episode_index"])
        if len(files) == 1
        else None
    )
    if table is None:
        import pyarrow as pa

        table = pa.concat_tables(
            pq.read_table(f, columns=[*want, "action", "episode_index"]) for f in files
        )
    ep = np.asarray(table.column("episode_index").to_numpy())
    tasks_of = {}
    for row in pq.read_table(root / EPISODES_PATH).to_pylist():
        tasks_of[int(row["episode_index"])] = row["tasks"][0]
    order = np.unique(ep)
    if max_demos is not None:
        order = order[:max_demos]
    keep = np.isin(ep, order)
    ep = ep[keep]
    n = int(keep.sum())
    if n * math.prod(feats[want[0]]["shape"]) * len(camera_keys) > DEFAULT_MAX_ARRAY_BYTES:
        raise DatasetError(f"{root}: {n} frames of images exceed {DEFAULT_MAX_ARRAY_BYTES} bytes")
    cams = []
    for k in camera_keys:
        col = [c for c, m in zip(table.column(cam_col[k]).to_pylist(), keep) if m]
        frames = np.stack([iio.imread(c["bytes"], extension=".png") for c in col])
        cams.append(_resize_uint8(frames, image_size))
    proprio = np.concatenate(
        [np.asarray(table.column(prop_col[k]).to_pylist(), np.float32)[keep] for k in proprio_keys],
        -1,
    )
    actions = np.asarray(table.column("action").to_pylist(), np.float32)[keep]
    lens = np.array([(ep == e).sum() for e in order])
    return DemoArrays(
        images=np.stack(cams, axis=1),
        proprio=proprio,
        actions=actions,
        demo_start=np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64),
        demo_len=lens,
        demo_of_row=np.repeat(np.arange(len(order)), lens),
        languages=[tasks_of[int(e)] for e in order],
    )


def load_any_demos(
    paths: str | Path | list[str | Path],
    camera_keys: tuple[str, ...],
    proprio_keys: tuple[str, ...],
    image_size: int,
    max_demos: int | None = None,
) -> DemoArrays:
    """Demos from HDF5 files and/or LeRobotDataset roots (a directory with ``meta/info.json``),
    concatenated in order; ``max_demos`` counts over all of them (``agents.data.load_demos``)."""
    parts: list[DemoArrays] = []
    seen = 0
    for p in demo_files(paths):
        left = None if max_demos is None else max_demos - seen
        if left is not None and left <= 0:
            break
        if is_lerobot_dir(p):
            part = load_lerobot_demos(p, camera_keys, proprio_keys, image_size, left)
        else:
            part = load_demos(p, camera_keys, proprio_keys, image_size, left)
        parts.append(part)
        seen += part.num_demos
    if not parts:
        raise DatasetError(
            not_allowed("demos", [], "an HDF5 path, a LeRobotDataset directory, or a list of them")
        )
    return parts[0] if len(parts) == 1 else concat_demos(parts)
