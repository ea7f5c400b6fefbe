"""Picture grid of every task's first frame (init state 0) at each perturbation level.

    vecc-tool tool=render_task_grid [out=docs/img] [size=128]      (fields: conf/tool/render_task_grid.yaml)

Writes ``task_grid_<level>.png|.jpg`` (rows = suites, columns = tasks, agentview camera)
and ``wrist_grid_standard.png``.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import envs
from experiments.apps import as_args


def first_frames(level: str, size: int, seed: int) -> dict[tuple[str, str], dict]:
    frames = {}
    for suite in envs.list_suites():
        for task in envs.list_tasks(suite):
            env = envs.make_env(suite, task, image_size=size, perturbation=level)
            obs, _ = env.reset(seed=seed, options={"init_state": 0})
            if level == "interference":
                # let the distractors come in
                for _ in range(40):
                    obs, *_ = env.step([0, 0, 0, 0, 0, 0, -1])
            frames[(suite, task)] = obs
            env.close()
    return frames


def save_grid(frames: dict, key: str, path: Path, title: str) -> None:
    suites = envs.list_suites()
    ncol = max(len(envs.list_tasks(s)) for s in suites)
    fig, axes = plt.subplots(len(suites), ncol, figsize=(1.9 * ncol, 2.25 * len(suites)))
    for r, suite in enumerate(suites):
        tasks = envs.list_tasks(suite)
        for c in range(ncol):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(tasks):
                ax.imshow(frames[(suite, tasks[c])][key])
                label = textwrap.fill(f"[{suite}] {envs.get_task(suite, tasks[c]).language}", 34)
                ax.set_title(label, fontsize=5.5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, pil_kwargs={"quality": 85} if path.suffix == ".jpg" else None)
    plt.close(fig)


def run(cfg: Any) -> None:
    """The tool app's entry (conf/tool/render_task_grid.yaml): write the grids into ``out``."""
    args = as_args(cfg)
    out = Path(args.out)
    for level in envs.PERTURBATION_LEVELS:
        frames = first_frames(level, args.size, args.seed)
        # noisy frames compress badly as PNG
        path = out / f"task_grid_{level}.{'png' if level == 'standard' else 'jpg'}"
        save_grid(frames, "agentview_rgb", path, f"agentview, init state 0, level={level}")
        if level == "standard":
            save_grid(
                frames, "wrist_rgb", out / "wrist_grid_standard.png", "wrist camera, init state 0"
            )
        print(f"wrote {path}")


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("tool", "render_task_grid")
