"""Lossy activation compression for boundary tensors, with its error measured.

Two schemes, chosen per tensor:

* ``fp16``: cast to IEEE half. Values beyond +-65504 saturate (rather than becoming
  inf) because an inf in a hidden state poisons every later layer.
* ``int8``: symmetric per-token absmax quantization. A "token" is one row along the
  last axis (``[B, S, H]`` -> ``B*S`` rows of ``H``); each row stores one float32
  scale ``absmax / 127``. Per-token scales follow the usual LLM activation practice
  (outlier tokens do not wreck the precision of the others).

Only floating tensors are compressed; integer and bool tensors (token ids, masks)
always travel exact.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ecc.wire.errors import WireConfigError

COMPRESSIONS: tuple[str, ...] = ("none", "fp16", "int8")
FP16_MAX = 65504.0
INT8_LEVELS = 127.0


def check_compression(kind: str, field: str = "compression") -> str:
    """Return ``kind`` if it names a known scheme, else raise ``WireConfigError``."""
    if kind not in COMPRESSIONS:
        raise WireConfigError(f"{field}={kind!r} is not a compression; allowed: {COMPRESSIONS}")
    return kind


def _rows(shape: tuple[int, ...]) -> int:
    """Number of per-token scales for a tensor of ``shape`` (1 for 0-d and 1-d)."""
    rows = 1
    for d in shape[:-1]:
        rows *= d
    return rows


def compressed_nbytes(kind: str, shape: tuple[int, ...]) -> int:
    """Bytes on the wire for a tensor of ``shape`` compressed with ``kind`` (not ``none``)."""
    n = 1
    for d in shape:
        n *= d
    if kind == "fp16":
        return 2 * n
    if kind == "int8":
        return n + 4 * (_rows(shape) if n else 0)
    raise WireConfigError(f"compression={kind!r} has no compressed layout; allowed: fp16, int8")


def compress(x: np.ndarray, kind: str) -> list[np.ndarray]:
    """Compress a float array; returns the buffers to put on the wire, in order.

    The casts run in torch: its vectorised fp16 conversion is ~20x faster than numpy's.
    """
    import torch

    check_compression(kind)
    x32 = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if kind == "fp16":
        return [x32.clamp(-FP16_MAX, FP16_MAX).half().numpy()]
    if kind == "int8":
        if x32.numel() == 0:
            return [np.empty(0, dtype=np.int8)]
        rows = x32.reshape(_rows(tuple(x32.shape)), -1)
        scale = rows.abs().amax(dim=1) / INT8_LEVELS
        # Rows that are all zero keep scale 0 and decode to exact zeros.
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        q = (rows / safe[:, None]).round_().clamp_(-INT8_LEVELS, INT8_LEVELS).to(torch.int8)
        return [q.reshape(-1).numpy(), scale.numpy().astype("<f4", copy=False)]
    return [x32.numpy()]


def _readonly_tensor(arr: np.ndarray):  # -> torch.Tensor
    """A torch view of a possibly read-only array; only ever read, so torch's warning is moot."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(arr)


def decompress(region: memoryview | bytes, kind: str, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``compress``: float32 array of ``shape`` from one wire region.

    The caller has already checked ``len(region) == compressed_nbytes(kind, shape)``.
    """

    n = 1
    for d in shape:
        n *= d
    if n == 0:
        return np.zeros(shape, dtype=np.float32)
    if kind == "fp16":
        half = np.frombuffer(region, dtype="<f2", count=n)
        return _readonly_tensor(half).float().numpy().reshape(shape)
    if kind == "int8":
        rows = _rows(shape)
        q = _readonly_tensor(np.frombuffer(region, dtype=np.int8, count=n).reshape(rows, -1))
        scale = _readonly_tensor(np.frombuffer(region, dtype="<f4", count=rows, offset=n))
        return q.float().mul_(scale[:, None]).numpy().reshape(shape)
    raise WireConfigError(f"compression={kind!r} cannot be decompressed; allowed: fp16, int8")


@dataclass(frozen=True)
class CompressionReport:
    """Error and size of compressing one tensor.

    ``max_abs``: largest absolute error (tensor units); ``max_rel``: ``max_abs`` over
    the tensor's largest magnitude; ``rel_l2``: ||x - x_hat|| / ||x||; ``ratio``:
    original bytes / wire bytes.
    """

    kind: str
    max_abs: float
    max_rel: float
    rel_l2: float
    ratio: float


def compression_report(x: np.ndarray, kind: str) -> CompressionReport:
    """Compress and decompress ``x`` and report the error it introduced."""
    check_compression(kind)
    x = np.asarray(x)
    x32 = x.astype(np.float32)
    if kind == "none":
        return CompressionReport(kind, 0.0, 0.0, 0.0, 1.0)
    buf = b"".join(np.ascontiguousarray(b).tobytes() for b in compress(x32, kind))
    x_hat = decompress(buf, kind, tuple(x.shape))
    err = np.abs(x_hat - x32)
    max_abs = float(err.max()) if err.size else 0.0
    peak = float(np.abs(x32).max()) if x32.size else 0.0
    norm = float(np.linalg.norm(x32))
    rel_l2 = float(np.linalg.norm(x_hat - x32) / norm) if norm > 0 else 0.0
    wire = max(len(buf), 1)
    return CompressionReport(
        kind=kind,
        max_abs=max_abs,
        max_rel=max_abs / peak if peak > 0 else 0.0,
        rel_l2=rel_l2,
        ratio=x.nbytes / wire,
    )
