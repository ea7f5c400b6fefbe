"""The sealed header's map and its tensor table, both ways (format in ``ecc.wire.codec``).

Encoding lays the tensors out in ALIGN-byte body regions and writes the table that declares
them. Decoding checks the header map, then every declared name, dtype, shape, region and byte
count against the body length, with element counts bounded by ``max_frame_bytes``, before any
memory is allocated for the body; the tensors are then ``np.frombuffer`` views into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from ecc.wire import compression as C
from ecc.wire import errors as E
from ecc.wire.compression import COMPRESSIONS, compressed_nbytes, decompress
from ecc.wire.dtypes import DTYPES, FLOAT_DTYPES
from ecc.wire.frame import align
from ecc.wire.torch_edge import to_numpy

MAX_TENSORS = 4096
MAX_NDIM = 32
MAX_NAME_CHARS = 256
MAX_TYPE_CHARS = 64
HEADER_KEYS = frozenset({"t", "id", "m", "x"})
TENSOR_KEYS = frozenset({"n", "d", "s", "o", "b", "c"})


@dataclass(frozen=True)
class TensorEntry:
    """One validated table entry: where a tensor lies in the plain body (offset, nbytes: bytes)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    comp: str
    count: int


# ---------------------------------------------------------------------- encode
def check_outgoing(msg_type: object, request_id: object) -> None:
    """Refuse a message type or request id that a peer's decoder would reject."""
    if not isinstance(msg_type, str) or not 0 < len(msg_type) <= MAX_TYPE_CHARS:
        raise E.WireConfigError(
            f"message type={msg_type!r}; allowed: str of 1..{MAX_TYPE_CHARS} chars"
        )
    if not isinstance(request_id, int) or not 0 <= request_id < 2**64:
        raise E.WireConfigError(f"request_id={request_id!r}; allowed: int in [0, 2**64)")


def pack_tensors(
    tensors: Mapping[str, Any],
    wire_dtypes: Mapping[str, str],
    compress: Mapping[str, str] | None,
    default_compression: str,
    min_compress_elems: int,
) -> tuple[list[dict[str, Any]], list[memoryview], int]:
    """The tensor table, the body's chunks in order (padding included) and the body length (bytes).

    ``compress`` maps tensor names to a compression overriding ``default_compression``; floating
    tensors with fewer than ``min_compress_elems`` elements travel uncompressed.
    """
    if len(tensors) > MAX_TENSORS:
        raise E.WireConfigError(f"{len(tensors)} tensors; allowed: <= {MAX_TENSORS}")
    overrides = dict(compress or {})
    for name, kind in overrides.items():
        if kind not in COMPRESSIONS:
            raise E.WireConfigError(f"compress[{name!r}]={kind!r}; allowed: {COMPRESSIONS}")
    table: list[dict[str, Any]] = []
    chunks: list[memoryview] = []
    offset = 0
    for name, value in tensors.items():
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
            raise E.WireConfigError(
                f"tensor name={name!r}; allowed: str of 1..{MAX_NAME_CHARS} chars"
            )
        arr, wire_dtype = to_numpy(value, wire_dtypes.get(name))
        if arr.ndim > MAX_NDIM:
            raise E.WireConfigError(f"tensor {name!r} has ndim={arr.ndim}; allowed: <= {MAX_NDIM}")
        kind = overrides.get(name, default_compression)
        if kind != "none" and (wire_dtype not in FLOAT_DTYPES or arr.size < min_compress_elems):
            kind = "none"
        if kind == "none":
            bufs = [np.ascontiguousarray(arr, dtype=DTYPES[wire_dtype])]
        else:
            if wire_dtype == "bfloat16":
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            bufs = C.compress(arr, kind)
        entry: dict[str, Any] = {"n": name, "d": wire_dtype, "s": list(arr.shape), "o": offset}
        nbytes = 0
        for b in bufs:
            if b.nbytes:
                chunks.append(memoryview(b).cast("B"))
            nbytes += b.nbytes
        entry["b"] = nbytes
        if kind != "none":
            entry["c"] = kind
        table.append(entry)
        last = len(table) == len(tensors)
        pad = 0 if last else align(offset + nbytes) - (offset + nbytes)
        if pad:
            chunks.append(memoryview(bytes(pad)))
        offset += nbytes + pad
    return table, chunks, offset


def pack_header(msg_type: str, request_id: int, meta: Any, table: list[dict[str, Any]]) -> bytes:
    """The plain header map as msgpack bytes."""
    return msgpack.packb(
        {"t": msg_type, "id": request_id, "m": meta, "x": table}, use_bin_type=True
    )


# ---------------------------------------------------------------------- decode
def unpack_header(raw: memoryview) -> dict[str, Any]:
    """The authenticated header map, its keys and their types checked (no ext types, bounded)."""
    n = len(raw)
    try:
        header = msgpack.unpackb(
            raw,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=n,
            max_bin_len=n,
            max_array_len=n,
            max_map_len=n,
            max_ext_len=0,
            ext_hook=_reject_ext,
        )
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as e:
        raise E.BadHeader(f"header is not valid msgpack: {e}") from e
    if not isinstance(header, dict) or set(header) != HEADER_KEYS:
        got = sorted(header) if isinstance(header, dict) else type(header).__name__
        raise E.BadHeader(f"header keys={got}; expected {sorted(HEADER_KEYS)}")
    t, rid, meta, table = header["t"], header["id"], header["m"], header["x"]
    if not isinstance(t, str) or not 0 < len(t) <= MAX_TYPE_CHARS:
        raise E.BadHeader(f"message type={t!r}; allowed: str of 1..{MAX_TYPE_CHARS} chars")
    if type(rid) is not int or not 0 <= rid < 2**64:
        raise E.BadHeader(f"request id={rid!r}; allowed: int in [0, 2**64)")
    if not isinstance(meta, dict):
        raise E.BadHeader(f"meta is {type(meta).__name__}; expected a map")
    if not isinstance(table, list) or len(table) > MAX_TENSORS:
        raise E.BadHeader(
            f"tensor table is {type(table).__name__}; expected a list of <= {MAX_TENSORS}"
        )
    return header


def check_table(table: list[Any], body_len: int, max_frame_bytes: int) -> tuple[TensorEntry, ...]:
    """Every entry's name, dtype, shape, region and byte count, before any allocation.

    ``body_len`` is the plain body length and ``max_frame_bytes`` bounds what any one shape may
    span (bytes).
    """
    out: list[TensorEntry] = []
    names: set[str] = set()
    cursor = 0  # end of the previous region: regions must be ordered and disjoint
    for i, entry in enumerate(table):
        if (
            not isinstance(entry, dict)
            or not {"n", "d", "s", "o", "b"} <= set(entry) <= TENSOR_KEYS
        ):
            raise E.BadHeader(f"tensor entry {i} is malformed: {entry!r:.200}")
        name, dtype, shape, off, nbytes = (entry[k] for k in ("n", "d", "s", "o", "b"))
        comp = entry.get("c", "none")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS or name in names:
            raise E.BadHeader(f"tensor {i} name={name!r:.80}: empty, too long or duplicate")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise E.BadDtype(f"tensor {name!r} dtype={dtype!r:.40}; allowed: {sorted(DTYPES)}")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_NDIM
            or not all(type(d) is int and 0 <= d < 2**48 for d in shape)
        ):
            raise E.ShapeMismatch(
                f"tensor {name!r} shape={shape!r:.80}; expected <= {MAX_NDIM} dims >= 0"
            )
        shp = tuple(shape)
        count, span = 1, 1
        for d in shp:
            count *= d
            span *= max(d, 1)  # what numpy would size a zero-size array's strides by
        if span * DTYPES[dtype].itemsize > max_frame_bytes:
            raise E.ShapeMismatch(
                f"tensor {name!r} shape={list(shp)} spans {span} elements of {dtype}; "
                f"allowed: <= max_frame_bytes={max_frame_bytes} bytes even when empty"
            )
        if type(off) is not int or type(nbytes) is not int or off < cursor or nbytes < 0:
            raise E.ShapeMismatch(
                f"tensor {name!r} offset={off!r} nbytes={nbytes!r}; regions must be ordered, "
                f"disjoint and start at >= {cursor}"
            )
        if off + nbytes > body_len:
            raise E.ShapeMismatch(
                f"tensor {name!r} region [{off}, {off + nbytes}) exceeds body of {body_len} bytes"
            )
        if comp == "none":
            expected = count * DTYPES[dtype].itemsize
        elif comp in ("fp16", "int8") and dtype in FLOAT_DTYPES:
            expected = compressed_nbytes(comp, shp)
        else:
            raise E.BadCompression(
                f"tensor {name!r} compression={comp!r:.40} with dtype={dtype}; allowed: "
                f"'fp16'/'int8' on {sorted(FLOAT_DTYPES)}"
            )
        if nbytes != expected:
            raise E.ShapeMismatch(
                f"tensor {name!r} has {nbytes} bytes; shape {list(shp)} x {dtype}"
                f"{'' if comp == 'none' else ' compressed ' + comp} needs {expected}"
            )
        names.add(name)
        out.append(TensorEntry(name, dtype, shp, off, nbytes, comp, count))
        cursor = off + nbytes
    return tuple(out)


def decode_tensors(
    entries: tuple[TensorEntry, ...], body: memoryview
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors (views into ``body`` where uncompressed) and each one's wire dtype name."""
    tensors: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for e in entries:
        region = body[e.offset : e.offset + e.nbytes]
        try:
            if e.comp == "none":
                arr = (
                    np.frombuffer(region, dtype=DTYPES[e.dtype], count=e.count).reshape(e.shape)
                    if e.count
                    else np.empty(e.shape, dtype=DTYPES[e.dtype])
                )
            else:
                arr = _restore_dtype(decompress(region, e.comp, e.shape), e.dtype)
        except (ValueError, TypeError, MemoryError) as err:  # last line: never a raw error
            raise E.ShapeMismatch(f"tensor {e.name!r} cannot be decoded: {err}") from err
        tensors[e.name] = arr
        dtypes[e.name] = e.dtype
    return tensors, dtypes


def _restore_dtype(x32: np.ndarray, dtype: str) -> np.ndarray:
    """Cast a decompressed float32 array back to the tensor's declared wire dtype."""
    if dtype == "bfloat16":
        # Round to nearest even on the top 16 bits, as torch does.
        bits = x32.view(np.uint32)
        rounded = bits + 0x7FFF + ((bits >> 16) & 1)
        return (rounded >> 16).astype(np.uint16)
    return x32.astype(DTYPES[dtype], copy=False)


def _reject_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack ext type {code} is not allowed")
