"""openpi's policy protocol, frame level: msgpack with numpy arrays, decoded without trust.

openpi (``openpi_client.msgpack_numpy``) packs an ndarray as the map
``{b"__ndarray__": True, b"data": <bytes>, b"dtype": <numpy dtype str>, b"shape": [..]}`` and a
numpy scalar as ``{b"__npgeneric__": True, b"data": <item>, b"dtype": <str>}``; a connection is a
websocket on which the server first sends its metadata map, then answers every observation frame
with ``{"actions": [chunk, action_dim], ...}``; a text frame is an error message.

This codec is shared by our server (``ecc.openpi_server``) and client
(``agents.remote_policy``). It decodes frames from an untrusted peer: the only object hook is
ndarray/scalar decoding, dtypes are restricted to plain numeric kinds, declared shapes are checked
against the payload length before any array is made, and msgpack's own container limits are bounded
by the frame size. It never unpickles.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

from agents.errors import AgentsError
from core.errors import not_allowed

#: numpy dtype kinds an array may have on the wire: bool, signed/unsigned int, float.
ALLOWED_KINDS = ("b", "i", "u", "f")
#: most dimensions a decoded array may declare.
MAX_NDIM = 8


class OpenpiProtocolError(AgentsError):
    """A frame that is not valid openpi msgpack-numpy (bad dtype, shape, size or structure)."""


def _pack_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray | np.generic) and obj.dtype.kind not in ALLOWED_KINDS:
        raise OpenpiProtocolError(not_allowed("dtype", obj.dtype.str, "bool, int, uint, float"))
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        return {
            b"__ndarray__": True,
            b"data": arr.tobytes(),
            b"dtype": arr.dtype.str,
            b"shape": list(arr.shape),
        }
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise OpenpiProtocolError(f"cannot pack {type(obj).__name__}; allowed: ndarray, numpy scalar")


def pack(obj: Any) -> bytes:
    """One openpi frame (bytes) for a map of arrays, scalars, strings, lists and maps."""
    return msgpack.packb(obj, default=_pack_default, use_bin_type=True)


def _dtype(value: Any) -> np.dtype:
    if not isinstance(value, str | bytes) or len(value) > 8:
        raise OpenpiProtocolError(not_allowed("dtype", value, "a numpy dtype string like '<f4'"))
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    try:
        dt = np.dtype(text)
    except TypeError as e:
        raise OpenpiProtocolError(not_allowed("dtype", text, "a numpy dtype string")) from e
    if dt.kind not in ALLOWED_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise OpenpiProtocolError(not_allowed("dtype", text, "bool, int, uint or float kinds"))
    return dt


def _decode_hook(obj: dict) -> Any:
    if b"__ndarray__" in obj:
        dt = _dtype(obj.get(b"dtype"))
        shape = obj.get(b"shape")
        if (
            not isinstance(shape, list | tuple)
            or len(shape) > MAX_NDIM
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        ):
            raise OpenpiProtocolError(
                not_allowed("shape", shape, f"a list of at most {MAX_NDIM} ints >= 0")
            )
        data = obj.get(b"data")
        if not isinstance(data, bytes):
            raise OpenpiProtocolError(not_allowed("data", type(data).__name__, "bytes"))
        # The declared size must equal the payload before numpy sees it: no allocation from a
        # peer's shape alone (the array is a view of bytes already received and bounded).
        want = math.prod(shape) * dt.itemsize
        if want != len(data):
            raise OpenpiProtocolError(
                f"shape={list(shape)} dtype={dt.str} declares {want} bytes but data holds "
                f"{len(data)}; allowed: the two equal"
            )
        return np.frombuffer(data, dtype=dt).reshape(shape)
    if b"__npgeneric__" in obj:
        dt = _dtype(obj.get(b"dtype"))
        item = obj.get(b"data")
        if not isinstance(item, bool | int | float):
            raise OpenpiProtocolError(not_allowed("data", type(item).__name__, "a number"))
        try:
            return dt.type(item)
        except (OverflowError, ValueError) as e:
            raise OpenpiProtocolError(not_allowed("data", item, f"a {dt.str} value")) from e
    return obj


def unpack(frame: bytes, max_bytes: int) -> Any:
    """Decode one frame from an untrusted peer; ``max_bytes`` bounds the frame (bytes)."""
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise OpenpiProtocolError(not_allowed("frame", type(frame).__name__, "a binary frame"))
    if len(frame) > max_bytes:
        raise OpenpiProtocolError(not_allowed("frame bytes", len(frame), f"<= {max_bytes}"))
    n = len(frame)
    try:
        return msgpack.unpackb(
            frame,
            object_hook=_decode_hook,
            raw=False,
            strict_map_key=False,  # openpi's array maps have bytes keys
            max_bin_len=n,
            max_str_len=n,
            max_array_len=n,
            max_map_len=n,
            max_ext_len=0,
        )
    except OpenpiProtocolError:
        raise
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise OpenpiProtocolError(f"frame is not valid msgpack: {e}") from e
