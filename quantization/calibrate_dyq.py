"""Offline calibration of DyQ-VLA thresholds on successful trajectories.

Two entry points:

1. From a policy checkpoint and successful demonstrations (robomimic HDF5, e.g. the
   scripted expert's): the policy is quantized as conf/quantization/dyq.yaml stores it
   (INT4 weights, the action expert's INT8, INT4 tables), every ``stride``-th frame is run
   at BF16 and at 8/4/2-bit activations, the error is the mean absolute difference of the
   first predicted action (normalised units), and proxy scores are
   replayed from the demos' executed actions::

       vecc-tool tool=calibrate_dyq checkpoint=ckpt/ demos=demos.hdf5 \
           out=conf/quantization/dyq_calibrated.yaml [save_data=calib.npz]

2. From an ``.npz`` written earlier (``save_data``) or by your own collection:

- ``actions`` ``[N, 7]``: executed actions of successful episodes, concatenated;
- ``episode`` ``[N]``: episode id of each row (proxies restart per episode);
- ``err_2``, ``err_4`` (optionally ``err_8``) ``[N]``: action error at that step when the
  policy runs with activations at 2 / 4 / 8 bits instead of BF16 (see
  :func:`per_precision_action_errors` to compute them from a DyQ-quantized model).

   ::

       vecc-tool tool=calibrate_dyq data=calib.npz out=dyq_calibrated.yaml D=0.05 eta=0.1 bins=10

The command is experiments/calibrate_dyq.py (fields: conf/tool/calibrate_dyq.yaml); this module
holds the calibration.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.bounded_io import FileFormatError, read_npz
from quantization.apply import quantize_model
from quantization.calib_batches import RunFn, default_run
from quantization.calib_data import demo_frames
from quantization.config import DyQConfig
from quantization.dyq import calibrate_thresholds, replay_scores
from quantization.errors import CalibrationError
from quantization.linear import quant_linears, set_act_bits

log = logging.getLogger(__name__)


@torch.no_grad()
def per_precision_action_errors(
    model: nn.Module,
    batches: Sequence[Any],
    run: RunFn = default_run,
    bits: Sequence[int] = (2, 4, 8),
) -> dict[int, np.ndarray]:
    """Mean |action(b bits) - action(BF16)| per batch (one batch = one step's observation).

    ``model`` must already be quantized (``quantize_model(..., name: dyq)``); its
    activation bits are restored to 16 afterwards.
    """
    out: dict[int, list[float]] = {b: [] for b in bits}
    try:
        for batch in batches:
            set_act_bits(model, 16)
            ref = run(model, batch).float()
            for b in bits:
                set_act_bits(model, b)
                out[b].append(float((run(model, batch).float() - ref).abs().mean()))
    finally:
        set_act_bits(model, 16)
    return {b: np.asarray(v) for b, v in out.items()}


def collect_from_policy(
    policy: Any,
    demos: Any,
    weight_cfg: dict | None = None,
    stride: int = 1,
    max_frames: int | None = None,
) -> dict[str, np.ndarray]:
    """Arrays for :func:`calibrate_arrays` from a ``VLAPolicy`` and ``DemoArrays``.

    Quantizes ``policy.model`` in place (DyQ: INT4 weights) unless it already holds
    QuantLinear layers. Returns ``actions``, ``episode`` (all rows) and ``err_{2,4,8}``
    (NaN on rows not evaluated when ``stride > 1`` or ``max_frames`` cuts).
    """
    if stride < 1:
        raise CalibrationError(f"stride={stride} must be >= 1")
    model = policy.model
    if not quant_linears(model):
        quantize_model(model, weight_cfg or {"name": "dyq", "weight_bits": 4, "group_size": 128})
    n = len(demos.actions)
    rows = np.arange(0, n, stride)[:max_frames]

    def run(m: nn.Module, batch: dict) -> torch.Tensor:
        return m(batch)["actions"][:, 0]  # the action executed next

    batches = [demo_frames(policy, demos, np.array([r]), seed=int(r)) for r in rows]
    errs = per_precision_action_errors(model, batches, run)
    out: dict[str, np.ndarray] = {
        "actions": np.asarray(demos.actions, dtype=np.float64),
        "episode": np.asarray(demos.demo_of_row),
    }
    for b, e in errs.items():
        full = np.full(n, np.nan)
        full[rows] = e
        out[f"err_{b}"] = full
    return out


def calibrate_arrays(data: dict[str, np.ndarray], cfg: DyQConfig, bins: int = 10) -> list[float]:
    """Thresholds from ``actions``, ``episode`` and ``err_b`` arrays (NaN rows skipped)."""
    missing = [k for k in ("actions", "episode", "err_2", "err_4") if k not in data]
    if missing:
        raise CalibrationError(f"missing arrays {missing}; found {sorted(data)}")
    actions = np.asarray(data["actions"], dtype=np.float64)
    if actions.ndim != 2 or actions.shape[1] < 6:
        raise CalibrationError(f"actions must be [N, >=6], got {actions.shape}")
    scores = scores_by_episode(actions, np.asarray(data["episode"]), cfg)
    errors = {
        b: np.asarray(data[f"err_{b}"], dtype=np.float64) for b in (2, 4, 8) if f"err_{b}" in data
    }
    keep = np.isfinite(errors[2]) & np.isfinite(errors[4])
    return calibrate_thresholds(scores[keep], {b: e[keep] for b, e in errors.items()}, cfg, bins)


def scores_by_episode(actions: np.ndarray, episode: np.ndarray, cfg: DyQConfig) -> np.ndarray:
    """Proxy scores of every row, replaying the controller separately per episode."""
    scores = np.empty(len(actions))
    for ep in np.unique(episode):
        idx = np.flatnonzero(episode == ep)
        scores[idx] = replay_scores(actions[idx], cfg)
    return scores


def calibrate_file(path: Path, cfg: DyQConfig, bins: int = 10) -> list[float]:
    """Thresholds ``[th_2|4, th_4|8]`` from a calibration ``.npz`` (format in module doc)."""
    try:
        arrays = read_npz(path)  # each member's declared size checked before it is read
    except FileFormatError as e:
        raise CalibrationError(str(e)) from None
    try:
        return calibrate_arrays(arrays, cfg, bins)
    except CalibrationError as e:
        raise CalibrationError(f"{path}: {e}") from e
