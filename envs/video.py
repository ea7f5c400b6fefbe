"""Episode videos (mp4 via imageio-ffmpeg)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np

from envs.errors import EnvConfigError

VIDEO_KEYS = ("agentview_rgb", "wrist_rgb")


class VideoWriter:
    """Appends observation frames (side by side cameras) and writes an mp4 at ``fps``."""

    def __init__(self, path: str | Path, fps: int = 20, keys: tuple[str, ...] = VIDEO_KEYS) -> None:
        if fps <= 0:
            raise EnvConfigError("fps", fps, "a positive integer (frames per second)")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.keys = keys
        self._writer = imageio.get_writer(self.path, fps=fps, codec="libx264", macro_block_size=1)
        self.frames = 0

    def add(self, obs: dict) -> None:
        missing = [k for k in self.keys if k not in obs]
        if missing:
            raise EnvConfigError(
                "video keys", missing, "image keys present in the observation (render=True)"
            )
        self._writer.append_data(np.concatenate([obs[k] for k in self.keys], axis=1))
        self.frames += 1

    def close(self) -> None:
        self._writer.close()


def record_episode(
    env: gym.Env,
    policy: Callable[[dict], np.ndarray],
    path: str | Path,
    *,
    seed: int | None = None,
    init_state: int = 0,
    max_steps: int | None = None,
    fps: int = 20,
) -> dict:
    """Run one episode with ``policy(obs) -> action`` and write it to ``path`` (mp4).

    Returns {"success": bool, "steps": int, "frames": int, "path": str}.
    """
    obs, info = env.reset(seed=seed, options={"init_state": init_state})
    writer = VideoWriter(path, fps=fps)
    writer.add(obs)
    steps, done = 0, False
    try:
        while not done and (max_steps is None or steps < max_steps):
            obs, _, term, trunc, info = env.step(policy(obs))
            writer.add(obs)
            steps += 1
            done = term or trunc
    finally:
        writer.close()
    return {
        "success": bool(info["is_success"]),
        "steps": steps,
        "frames": writer.frames,
        "path": str(path),
    }
