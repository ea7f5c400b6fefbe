"""Result files shared by the RAPID commands: setting notes and a JSON record with provenance.

Tables (markdown + CSV) come from :mod:`experiments.tables`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.provenance import provenance

# What differs from the paper's setting; every output repeats the notes that apply.
SETTING_NOTES: dict[str, str] = {
    "expert": "Kinematic streams come from our privileged scripted expert on our LIBERO-like MuJoCo "
    "tasks, not from OpenVLA rollouts on LIBERO.",
    "tiny": "Acting policy: a tiny VLA trained here, not OpenVLA-7B; it produces the actions and the "
    "vision signals (entropy, features).",
    "modeled": "OpenVLA-7B latency is MODELED (roofline cost model of the openvla-7b trace on "
    "Jetson AGX Orin 64GB + A100 80GB over the chosen link), not measured on the hardware.",
    "thresholds": "The paper publishes no RAPID window/threshold/cooldown values; ours are calibrated "
    "(experiments.rapid.calibrate_rapid), see docs/rapid.md.",
    "peg": "Our suites have no peg-insertion task; the paper's peg row has no counterpart.",
}


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def write_record(path: Path, config: dict[str, Any], results: Any, notes: Sequence[str]) -> Path:
    """JSON with the command's config (args, seeds), provenance (versions, git), notes and results."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "config": config,
        "provenance": provenance(),
        "notes": list(notes),
        "results": results,
    }
    path.write_text(json.dumps(_jsonable(payload), indent=1))
    return path


def quantiles(
    values: Sequence[float], qs: Sequence[float] = (50, 80, 90, 95, 99)
) -> dict[str, float]:
    """Named percentiles (``p50`` ...) plus mean and max of ``values``."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {f"p{q:g}": float("nan") for q in qs} | {"mean": float("nan"), "max": float("nan")}
    out = {f"p{q:g}": float(np.percentile(arr, q)) for q in qs}
    out.update(mean=float(arr.mean()), max=float(arr.max()), n=int(arr.size))
    return out
