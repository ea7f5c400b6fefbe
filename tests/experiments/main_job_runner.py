"""``python -m experiments.run`` as a user runs it: a subprocess, for the main-job tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_main_job(
    run_dir: Path, *overrides: str, timeout: int = 600, drop_env: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Run the main job into ``run_dir`` with ``overrides``; ``drop_env``: variables to unset."""
    env = {**os.environ, "MUJOCO_GL": "egl", "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    for name in drop_env:
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "experiments.run", f"hydra.run.dir={run_dir}", *overrides],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
