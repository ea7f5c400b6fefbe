"""The wire's dtype whitelist: wire dtype names and the numpy dtypes they travel as.

A leaf module so that the codec and its torch/numpy edge (``ecc.wire.torch_edge``) both
read it without importing each other.
"""

from __future__ import annotations

import numpy as np

from ecc.wire.errors import WireConfigError

# Wire dtype name -> numpy dtype (little-endian). bfloat16 has no numpy dtype; its raw
# 16-bit patterns travel as uint16 and are re-viewed as torch.bfloat16 at the edge.
DTYPES: dict[str, np.dtype] = {
    "bool": np.dtype("|b1"),
    "uint8": np.dtype("|u1"),
    "int8": np.dtype("|i1"),
    "uint16": np.dtype("<u2"),
    "int16": np.dtype("<i2"),
    "uint32": np.dtype("<u4"),
    "int32": np.dtype("<i4"),
    "uint64": np.dtype("<u8"),
    "int64": np.dtype("<i8"),
    "float16": np.dtype("<f2"),
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
    "bfloat16": np.dtype("<u2"),
}
FLOAT_DTYPES = frozenset({"float16", "float32", "float64", "bfloat16"})
_NUMPY_TO_WIRE = {np.dtype(v).newbyteorder("="): k for k, v in DTYPES.items() if k != "bfloat16"}


def numpy_wire_dtype(dtype: np.dtype) -> str:
    """Wire name of a numpy dtype, or ``WireConfigError`` for dtypes outside the whitelist."""
    name = _NUMPY_TO_WIRE.get(np.dtype(dtype).newbyteorder("="))
    if name is None:
        raise WireConfigError(
            f"dtype={np.dtype(dtype)!s} is not on the wire whitelist; allowed: {sorted(DTYPES)}"
        )
    return name
