"""Strict JSON for every result file: NaN and infinities become null, numpy values plain numbers.

Python's json writes ``NaN`` by default, which is not JSON: strict readers (jq, JavaScript,
W&B's tables) reject the whole file. Every result file goes through :func:`dumps` or
:func:`write_atomic`, which refuse anything they cannot represent exactly.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


def to_strict(obj: Any) -> Any:
    """``obj`` with non-finite floats as None, numpy scalars/arrays, Paths and tuples made plain."""
    if isinstance(obj, dict):
        return {str(k): to_strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_strict(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_strict(obj.tolist())
    if isinstance(obj, np.generic):
        return to_strict(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``obj`` (``allow_nan=False`` after :func:`to_strict`)."""
    return json.dumps(to_strict(obj), allow_nan=False, **kwargs)


def write_atomic(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON to ``path`` through a temporary file and a rename.

    A crash mid-write leaves the old file (or none), never half a result file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(dumps(obj, indent=indent))
    tmp.replace(path)
    return path
