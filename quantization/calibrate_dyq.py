"""Offline calibration of DyQ-VLA thresholds on successful trajectories.

Data (an ``.npz`` the user wrote, loaded with ``allow_pickle=False``):

- ``actions`` ``[N, 7]``: executed actions of successful episodes, concatenated;
- ``episode`` ``[N]``: episode id of each row (proxies restart per episode);
- ``err_2``, ``err_4`` (optionally ``err_8``) ``[N]``: action error at that step when the
  policy runs with activations at 2 / 4 / 8 bits instead of BF16 (see
  :func:`per_precision_action_errors` to compute them from a DyQ-quantized model).

Usage::

    python -m quantization.calibrate_dyq data.npz --out conf/quantization/dyq_calibrated.yaml \
        --D 0.05 --eta 0.1 --bins 10
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from quantization.apply import RunFn, default_run
from quantization.config import DyQConfig
from quantization.dyq import calibrate_thresholds, replay_scores
from quantization.errors import CalibrationError
from quantization.linear import set_act_bits

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


def scores_by_episode(actions: np.ndarray, episode: np.ndarray, cfg: DyQConfig) -> np.ndarray:
    """Proxy scores of every row, replaying the controller separately per episode."""
    scores = np.empty(len(actions))
    for ep in np.unique(episode):
        idx = np.flatnonzero(episode == ep)
        scores[idx] = replay_scores(actions[idx], cfg)
    return scores


def calibrate_file(path: Path, cfg: DyQConfig, bins: int = 10) -> list[float]:
    """Thresholds ``[th_2|4, th_4|8]`` from a calibration ``.npz`` (format in module doc)."""
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in ("actions", "episode", "err_2", "err_4") if k not in data]
        if missing:
            raise CalibrationError(f"{path}: missing arrays {missing}; found {sorted(data.files)}")
        actions = np.asarray(data["actions"], dtype=np.float64)
        episode = np.asarray(data["episode"])
        errors = {
            b: np.asarray(data[f"err_{b}"], dtype=np.float64)
            for b in (2, 4, 8)
            if f"err_{b}" in data
        }
    if actions.ndim != 2 or actions.shape[1] < 6:
        raise CalibrationError(f"{path}: actions must be [N, >=6], got {actions.shape}")
    scores = scores_by_episode(actions, episode, cfg)
    return calibrate_thresholds(scores, errors, cfg, bins=bins)


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: print the calibrated thresholds and optionally write a dyq config override."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, help=".npz with actions, episode, err_2, err_4[, err_8]")
    p.add_argument("--out", type=Path, default=None, help="write a yaml with dyq.thresholds")
    p.add_argument("--D", type=float, default=DyQConfig.calib_D, help="eps(S) = D / (S + eta)")
    p.add_argument("--eta", type=float, default=DyQConfig.calib_eta)
    p.add_argument("--theta-fp", type=float, default=DyQConfig.theta_fp)
    p.add_argument("--bins", type=int, default=10, help="equal-count score bins")
    args = p.parse_args(argv)
    cfg = DyQConfig(calib_D=args.D, calib_eta=args.eta, theta_fp=args.theta_fp)
    th = calibrate_file(args.data, cfg, args.bins)
    print(f"th_2|4={th[0]:.4f} th_4|8={th[1]:.4f} theta_fp={cfg.theta_fp}")
    if args.out is not None:
        args.out.write_text(
            "# @package _global_\n# DyQ thresholds calibrated by quantization.calibrate_dyq on "
            f"{args.data.name}\nquantization:\n  dyq:\n    thresholds: [{th[0]:.6f}, {th[1]:.6f}]\n"
            f"    theta_fp: {cfg.theta_fp}\n    calib_D: {cfg.calib_D}\n    calib_eta: {cfg.calib_eta}\n"
        )
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
