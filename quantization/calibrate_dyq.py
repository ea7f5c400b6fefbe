"""Offline calibration of DyQ-VLA thresholds on successful trajectories.

Two entry points:

1. From a policy checkpoint and successful demonstrations (robomimic HDF5, e.g. the
   scripted expert's): the policy is quantized as conf/quantization/dyq.yaml stores it
   (INT4 weights, the action expert's INT8, INT4 tables), every ``--stride``-th frame is run
   at BF16 and at 8/4/2-bit activations, the error is the mean absolute difference of the
   first predicted action (normalised units), and proxy scores are
   replayed from the demos' executed actions::

       python -m quantization.calibrate_dyq --checkpoint ckpt/ --demos demos.hdf5 \
           --out conf/quantization/dyq_calibrated.yaml [--save-data calib.npz]

2. From an ``.npz`` written earlier (``--save-data``) or by your own collection:

- ``actions`` ``[N, 7]``: executed actions of successful episodes, concatenated;
- ``episode`` ``[N]``: episode id of each row (proxies restart per episode);
- ``err_2``, ``err_4`` (optionally ``err_8``) ``[N]``: action error at that step when the
  policy runs with activations at 2 / 4 / 8 bits instead of BF16 (see
  :func:`per_precision_action_errors` to compute them from a DyQ-quantized model).

   ::

       python -m quantization.calibrate_dyq --data calib.npz --out dyq_calibrated.yaml \
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

from agents.data import load_demos
from agents.policy import load_policy
from core.bounded_io import FileFormatError, read_npz
from quantization.apply import quantize_model
from quantization.calib_batches import RunFn, default_run
from quantization.calib_data import demo_frames
from quantization.config import DyQConfig, dyq_weight_config
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


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: print the calibrated thresholds and optionally write a dyq config override."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help=".npz with actions, episode, err_2, err_4[, err_8]")
    src.add_argument("--checkpoint", type=Path, help="policy checkpoint (agents.policy)")
    p.add_argument("--demos", type=Path, help="successful trajectories (robomimic HDF5)")
    p.add_argument("--stride", type=int, default=1, help="evaluate every n-th frame")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument(
        "--group-size",
        type=int,
        default=None,
        help="INT4 weight group size (default: dyq config's)",
    )
    p.add_argument(
        "--groups",
        nargs="+",
        default=None,
        help="module groups to quantize (default: the dyq config's; e.g. drop action_expert)",
    )
    p.add_argument("--save-data", type=Path, default=None, help="write the collected arrays")
    p.add_argument("--out", type=Path, default=None, help="write a yaml with dyq.thresholds")
    p.add_argument("--D", type=float, default=DyQConfig.calib_D, help="eps(S) = D / (S + eta)")
    p.add_argument("--eta", type=float, default=DyQConfig.calib_eta)
    p.add_argument("--theta-fp", type=float, default=DyQConfig.theta_fp)
    p.add_argument("--bins", type=int, default=10, help="equal-count score bins")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    cfg = DyQConfig(calib_D=args.D, calib_eta=args.eta, theta_fp=args.theta_fp)
    if args.checkpoint is not None:
        if args.demos is None:
            p.error("--checkpoint needs --demos")
        torch.set_num_threads(1)
        policy = load_policy(args.checkpoint)
        demos = load_demos(
            args.demos,
            policy.config.camera_keys,
            policy.config.proprio_keys,
            policy.shape.vision[0].image_size,
        )
        given = {"group_size": args.group_size, "groups": args.groups}  # None = not on the CLI
        weight_cfg = dyq_weight_config(**{k: v for k, v in given.items() if v is not None})
        data = collect_from_policy(policy, demos, weight_cfg, args.stride, args.max_frames)
        if args.save_data is not None:
            np.savez(args.save_data, **data)
            print(f"wrote {args.save_data}")
        th = calibrate_arrays(data, cfg, args.bins)
        source = args.demos.name
    else:
        th = calibrate_file(args.data, cfg, args.bins)
        source = args.data.name
    print(f"th_2|4={th[0]:.4f} th_4|8={th[1]:.4f} theta_fp={cfg.theta_fp}")
    if args.out is not None:
        args.out.write_text(
            "# @package _global_\n# DyQ thresholds calibrated by quantization.calibrate_dyq on "
            f"{source}\nquantization:\n  dyq:\n    thresholds: [{th[0]:.6f}, {th[1]:.6f}]\n"
            f"    theta_fp: {cfg.theta_fp}\n    calib_D: {cfg.calib_D}\n    calib_eta: {cfg.calib_eta}\n"
        )
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
