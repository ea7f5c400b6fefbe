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

from experiments.config_checks import ConfigError

CALIBRATED_METHODS: tuple[str, ...] = ("smoothquant", "qvla")


def calibration_for(cfg: DictConfig, policy: Any) -> Any | None:
    """``quantization.Calibration`` from ``cfg.calibration.demos`` for a method that needs it.

    ``policy`` is the ``VLAPolicy`` (shape, tokenizer, stats, camera/proprio keys) whose frames
    are built. None for methods that do not calibrate.
    """
    qcfg = cfg.quantization
    if qcfg.get("name") not in CALIBRATED_METHODS:
        return None
    node = cfg.get("calibration") or {}
    demos_path = node.get("demos")
    if not demos_path:
        raise ConfigError(
            f"quantization={qcfg.name} calibrates on demonstration frames: add "
            "+calibration.demos=<demos.hdf5> (e.g. data/object_50.hdf5); allowed without it: "
            "quantization=none, bf16, w8a8, w4a16, w4a4, dyq"
        )
    from agents.data import load_demos
    from quantization.calib_data import demo_calibration

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
