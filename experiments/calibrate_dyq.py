"""DyQ-VLA threshold calibration as a tool app (the calibration itself: quantization.calibrate_dyq).

    vecc-tool tool=calibrate_dyq checkpoint=ckpt/ demos=demos.hdf5 out=conf/quantization/dyq_calibrated.yaml
    vecc-tool tool=calibrate_dyq data=calib.npz out=dyq_calibrated.yaml D=0.05 eta=0.1 bins=10

Fields: conf/tool/calibrate_dyq.yaml (the old ``python -m quantization.calibrate_dyq`` flags map
there: --save-data -> save_data). Prints the thresholds; ``out`` gets a YAML override of
``quantization.dyq`` (thresholds, theta_fp, calib_D, calib_eta).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.data import load_demos
from agents.policy import load_policy
from experiments.apps import as_args
from quantization.calibrate_dyq import calibrate_arrays, calibrate_file, collect_from_policy
from quantization.config import DyQConfig, dyq_weight_config
from quantization.errors import CalibrationError


def run(cfg: Any) -> None:
    """The tool app's entry (conf/tool/calibrate_dyq.yaml): calibrate, print, write ``out``."""
    args = as_args(cfg, paths=("data", "checkpoint", "demos", "save_data", "out"))
    if (args.data is None) == (args.checkpoint is None):
        raise CalibrationError(
            f"data={args.data} checkpoint={args.checkpoint} is not allowed; allowed: exactly one"
        )
    logging.basicConfig(level=logging.INFO)
    given = {"calib_D": args.D, "calib_eta": args.eta, "theta_fp": args.theta_fp}
    dyq = DyQConfig(**{k: v for k, v in given.items() if v is not None})  # None: the default
    if args.checkpoint is not None:
        th, source = _from_policy(args, dyq), args.demos.name
    else:
        th, source = calibrate_file(args.data, dyq, args.bins), args.data.name
    print(f"th_2|4={th[0]:.4f} th_4|8={th[1]:.4f} theta_fp={dyq.theta_fp}")
    if args.out is not None:
        write_override(args.out, th, dyq, source)
        print(f"wrote {args.out}")


def _from_policy(args: Any, dyq: DyQConfig) -> list[float]:
    if args.demos is None:
        raise CalibrationError("demos=None is not allowed with checkpoint; allowed: an HDF5 file")
    torch.set_num_threads(1)
    policy = load_policy(args.checkpoint)
    demos = load_demos(
        args.demos,
        policy.config.camera_keys,
        policy.config.proprio_keys,
        policy.shape.vision[0].image_size,
    )
    given = {"group_size": args.group_size, "groups": args.groups}  # None: the dyq config's
    weight_cfg = dyq_weight_config(**{k: v for k, v in given.items() if v is not None})
    data = collect_from_policy(policy, demos, weight_cfg, args.stride, args.max_frames)
    if args.save_data is not None:
        np.savez(args.save_data, **data)
        print(f"wrote {args.save_data}")
    return calibrate_arrays(data, dyq, args.bins)


def write_override(path: Path, th: list[float], dyq: DyQConfig, source: str) -> None:
    """A ``# @package _global_`` YAML that sets quantization.dyq's thresholds (and their D, eta)."""
    path.write_text(
        "# @package _global_\n# DyQ thresholds calibrated by quantization.calibrate_dyq on "
        f"{source}\nquantization:\n  dyq:\n    thresholds: [{th[0]:.6f}, {th[1]:.6f}]\n"
        f"    theta_fp: {dyq.theta_fp}\n    calib_D: {dyq.calib_D}\n    calib_eta: {dyq.calib_eta}\n"
    )


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("tool", "calibrate_dyq")
