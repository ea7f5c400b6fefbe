"""Decision timeline of one episode: importance, anomaly scores, joint speed and trigger decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ecc.schedulers import KinematicSignals
from experiments.figures import pyplot, save_figure


def plot_timeline(
    trace: list[dict[str, Any]],
    infos: list[dict[str, Any]],
    high: float,
    low: float,
    path: Path,
    title: str,
    control_hz: float = 20.0,
) -> Path:
    """Write a PNG with four stacked panels over control time (s)."""
    plt = pyplot()

    sig = KinematicSignals()
    speed = [sig(i)[2] if "joint_vel_history" in i else 0.0 for i in infos]
    t = np.asarray([r["step"] for r in trace], dtype=np.float64) / control_hz
    fig, ax = plt.subplots(4, 1, figsize=(10, 8), sharex=True)
    ax[0].plot(t, [r["importance"] for r in trace], lw=1, label="importance I")
    ax[0].axhline(high, color="r", ls="--", lw=0.8, label=f"high {high:.2f}")
    ax[0].axhline(low, color="orange", ls="--", lw=0.8, label=f"low {low:.2f}")
    ax[0].set_yscale("symlog", linthresh=1.0)
    ax[0].set_ylim(bottom=0)
    ax[0].legend(loc="upper right", fontsize=7)
    ax[1].plot(t, [r["z_acc"] for r in trace], lw=1, label="z_acc")
    ax[1].plot(t, [r["z_torque"] for r in trace], lw=1, label="z_torque")
    ax[1].set_yscale("symlog", linthresh=1.0)
    ax[1].set_ylim(bottom=0)
    ax[1].legend(loc="upper right", fontsize=7)
    ax[2].plot(t, speed[: len(t)], lw=1, label="|qdot| (rad/s)")
    ax2 = ax[2].twinx()
    ax2.plot(t, [r["w_acc"] for r in trace], lw=0.8, color="gray", label="w_acc")
    ax2.set_ylim(-0.05, 1.05)
    ax[2].legend(loc="upper left", fontsize=7)
    ax2.legend(loc="upper right", fontsize=7)
    reasons = sorted({r["reason"] or "play" for r in trace})
    for k, reason in enumerate(reasons):
        ts = [ti for ti, r in zip(t, trace, strict=True) if (r["reason"] or "play") == reason]
        ax[3].scatter(ts, np.full(len(ts), k), s=6, label=reason)
    ax[3].set_yticks(range(len(reasons)), reasons, fontsize=7)
    ax[3].set_xlabel("time (s, 20 Hz control)")
    return save_figure(fig, path, title)
