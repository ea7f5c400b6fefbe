"""Conversions between torch/numpy and the wire's numpy arrays, at the edges of the codec.

torch is imported lazily (optional here) so the codec works in processes without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ecc.wire.dtypes import numpy_wire_dtype
from ecc.wire.errors import WireConfigError


def to_numpy(value: Any, wire_dtype: str | None = None) -> tuple[np.ndarray, str]:
    """A zero-copy numpy view of ``value`` (numpy array, torch tensor or scalar) and its wire dtype.

    ``wire_dtype="bfloat16"`` marks a uint16 numpy array as holding bfloat16 bit patterns.
    """
    if type(value).__module__.startswith("torch"):
        import torch

        t = value.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np.uint16), "bfloat16"
        try:
            arr = t.numpy()
        except TypeError as e:
            raise WireConfigError(f"torch dtype={t.dtype} cannot travel on the wire: {e}") from e
        return arr, numpy_wire_dtype(arr.dtype)
    arr = np.asarray(value)
    if wire_dtype == "bfloat16":
        if arr.dtype != np.uint16:
            raise WireConfigError(
                f"wire_dtype='bfloat16' needs a uint16 bit-pattern array, got dtype={arr.dtype}"
            )
        return arr, "bfloat16"
    if arr.dtype.kind in "OVUSMmc":
        raise WireConfigError(
            f"dtype={arr.dtype} (object/void/string/datetime/complex) is never sent; "
            "allowed: bool, integer and float arrays"
        )
    return arr, numpy_wire_dtype(arr.dtype)


def to_torch(tensors: Mapping[str, np.ndarray], wire_dtypes: Mapping[str, str]) -> dict[str, Any]:
    """Torch tensors sharing memory with the decoded arrays (bfloat16 restored from bits).

    Read-only arrays (decoded from ``bytes``) are copied, since torch tensors are writable.
    """
    import torch

    out: dict[str, Any] = {}
    for name, arr in tensors.items():
        a = arr if arr.flags.writeable else arr.copy()
        if wire_dtypes.get(name) == "bfloat16":
            out[name] = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
        else:
            out[name] = torch.from_numpy(a)
    return out
