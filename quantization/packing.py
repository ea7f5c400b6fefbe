"""Bit packing of integer codes into ``uint8`` storage, and exact byte accounting.

Two layouts:

- ``rowmajor``: codes of each output row packed along the input dimension, low bits
  first (int4: 2 codes per byte, int2: 4 per byte, int8: plain ``int8``). A row of
  ``K`` codes takes ``ceil(K * bits / 8)`` bytes (rows are padded independently).
- ``int4pack_cpu``: the blocked layout ``torch.ops.aten._convert_weight_to_int4pack_for_cpu``
  produces for the CPU W4A16 kernel, ``[N, K / 2]`` uint8. Torch does not expose its
  inverse, so we recover the permutation by packing bit-planes of an index grid
  (``log2(N*K)`` pack calls, cached per shape) instead of hard-coding a layout that
  may change between torch releases.
"""

from __future__ import annotations

import math

import torch

from quantization.errors import QuantConfigError, QuantShapeError

PACKABLE_BITS = (2, 4, 8)


def codes_per_byte(bits: int) -> int:
    """How many ``bits``-wide codes one byte holds."""
    if bits not in PACKABLE_BITS:
        raise QuantConfigError("bits", bits, PACKABLE_BITS)
    return 8 // bits


def packed_row_bytes(k: int, bits: int) -> int:
    """Bytes one row of ``k`` codes takes in the ``rowmajor`` layout (bytes)."""
    return math.ceil(k * bits / 8)


def packed_weight_bytes(n: int, k: int, bits: int) -> int:
    """Bytes an ``[n, k]`` code matrix takes in the ``rowmajor`` layout (bytes)."""
    codes_per_byte(bits)
    return n * packed_row_bytes(k, bits)


def pack_rowmajor(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack non-negative integer codes ``[n, k]`` (values < 2**bits) into ``uint8``.

    For ``bits == 8`` the codes are returned as ``uint8`` unchanged (one per byte).
    """
    per = codes_per_byte(bits)
    if codes.dim() != 2:
        raise QuantShapeError(f"codes must be 2-D [n, k], got shape {tuple(codes.shape)}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= 2**bits):
        raise QuantShapeError(f"codes must lie in [0, {2**bits - 1}] for bits={bits}")
    codes = codes.to(torch.uint8)
    if per == 1:
        return codes.contiguous()
    n, k = codes.shape
    pad = (-k) % per
    if pad:
        codes = torch.nn.functional.pad(codes, (0, pad))
    codes = codes.view(n, -1, per)
    out = torch.zeros(codes.shape[:2], dtype=torch.uint8)
    for i in range(per):
        out |= codes[..., i] << (bits * i)
    return out


def unpack_rowmajor(packed: torch.Tensor, bits: int, k: int) -> torch.Tensor:
    """Inverse of :func:`pack_rowmajor`: ``uint8 [n, ceil(k*bits/8)]`` -> ``uint8 [n, k]``."""
    per = codes_per_byte(bits)
    if per == 1:
        return packed[:, :k]
    mask = (1 << bits) - 1
    parts = [(packed >> (bits * i)) & mask for i in range(per)]
    return torch.stack(parts, dim=-1).reshape(packed.shape[0], -1)[:, :k]


def int4pack_cpu_supported(n: int, k: int, group_size: int) -> bool:
    """Whether the CPU int4 kernel accepts an ``[n, k]`` weight with this group size.

    Constraints found by probing torch 2.13: ``n % 16 == 0``, ``k % group_size == 0``,
    group size in {32, 64, 128, 256}, and the kernel op present in this build.
    """
    if not hasattr(torch.ops.aten, "_convert_weight_to_int4pack_for_cpu"):
        return False
    return n % 16 == 0 and group_size in (32, 64, 128, 256) and k % group_size == 0 and k >= 2


def pack_int4_cpu(codes: torch.Tensor) -> torch.Tensor:
    """Pack unsigned 4-bit codes ``[n, k]`` into the CPU int4 kernel layout (``uint8 [n, k/2]``)."""
    return torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes.to(torch.int32).contiguous(), 1)


# Cached permutations, bounded by total entries: an [n, k] layer costs 4*n*k bytes here.
_PERM_CACHE: dict[tuple[int, int], torch.Tensor] = {}
PERM_CACHE_MAX_ELEMS = 16 * 1024 * 1024  # 64 MiB of int32 indices


def _int4pack_source_index(n: int, k: int) -> torch.Tensor:
    """For each nibble of the packed layout, the flat index of the code it came from."""
    hit = _PERM_CACHE.get((n, k))
    if hit is not None:
        return hit
    idx = torch.arange(n * k, dtype=torch.int64).view(n, k)
    src = torch.zeros(n * k, dtype=torch.int64)
    for b in range(max(1, (n * k - 1).bit_length())):
        plane = pack_int4_cpu((idx >> b) & 1)
        nib = torch.stack([plane & 0xF, plane >> 4], dim=-1).reshape(-1).to(torch.int64)
        src |= nib << b
    src = src.to(torch.int32)
    cached = sum(t.numel() for t in _PERM_CACHE.values())
    if cached + src.numel() <= PERM_CACHE_MAX_ELEMS:
        _PERM_CACHE[(n, k)] = src
    return src


def unpack_int4_cpu(packed: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """Inverse of :func:`pack_int4_cpu`: kernel layout -> unsigned codes ``uint8 [n, k]``."""
    src = _int4pack_source_index(n, k)
    nib = torch.stack([packed & 0xF, packed >> 4], dim=-1).reshape(-1)
    out = torch.empty(n * k, dtype=torch.uint8)
    out[src.to(torch.int64)] = nib
    return out.view(n, k)
