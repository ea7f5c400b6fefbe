"""Result files are strict JSON: NaN/inf are null, numpy values plain, writes atomic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.jsonio import dumps, to_strict, write_atomic


def test_non_finite_become_null_and_numpy_is_plain() -> None:
    text = dumps({"a": math.nan, "b": [np.float32(1.5), np.inf], "c": np.arange(2), "d": (1, 2)})
    assert json.loads(text) == {"a": None, "b": [1.5, None], "c": [0, 1], "d": [1, 2]}
    assert "NaN" not in text
    assert "Infinity" not in text


def test_unrepresentable_values_are_refused() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})
    assert to_strict({1: Path("/a")}) == {"1": "/a"}


def test_write_atomic_leaves_no_temporary(tmp_path: Path) -> None:
    path = write_atomic(tmp_path / "results.json", {"success_rate": math.nan})
    assert json.loads(path.read_text()) == {"success_rate": None}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
