"""Calibration frames for quantization methods that need them (SmoothQuant maxima, QVLA sensitivity).

The main job builds them from demonstration frames named on the command line::

    python -m experiments.run policy=oft_tiny policy.checkpoint=DIR quantization=smoothquant_w4a4 \\
        +calibration.demos=data/object_50.hdf5

``calibration`` is an optional top-level node (not in conf/config.yaml, hence the ``+``):
``demos`` (robomimic HDF5), ``max_demos`` (demos read into memory; default 10), ``batch_size``
(frames per batch; default 4), ``seed`` (frame draw; default 0). The number of batches is the
method's own ``calib_batches``.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from agents.data import load_demos
from experiments.config_checks import check_calibration
from quantization.calib_data import demo_calibration


def calibration_for(cfg: DictConfig, policy: Any) -> Any | None:
    """``quantization.CalibrationBatches`` from ``cfg.calibration.demos`` for a method that needs it.

    ``policy`` is the ``VLAPolicy`` (shape, tokenizer, stats, camera/proprio keys) whose frames
    are built. None for methods that do not calibrate.
    """
    demos_path = check_calibration(cfg)
    if demos_path is None:
        return None
    qcfg = cfg.quantization
    node = cfg.get("calibration") or {}
    demos = load_demos(
        demos_path,
        policy.config.camera_keys,
        policy.config.proprio_keys,
        policy.shape.vision[0].image_size,
        max_demos=int(node.get("max_demos", 10)),
    )
    n_batches = int(qcfg.get(qcfg.name, {}).get("calib_batches", 16))
    return demo_calibration(
        policy,
        demos,
        n_batches=n_batches,
        batch_size=int(node.get("batch_size", 4)),
        seed=int(node.get("seed", 0)),
    )
