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


class RecordEpisodes(gym.Wrapper):
    """Wrapper writing every ``every``-th episode to ``folder/episode_<n>.mp4`` (needs render=True)."""

    def __init__(self, env: gym.Env, folder: str | Path, every: int = 1, fps: int = 20) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every <= 0:
            raise EnvConfigError("every", every, "a positive integer (episodes)")
        super().__init__(env)
        self.folder, self.every, self.fps = Path(folder), every, fps
        self.episode = -1
        self._writer: VideoWriter | None = None
        self.paths: list[Path] = []

    def _finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def reset(self, *, seed=None, options=None):
        self._finish()
        obs, info = self.env.reset(seed=seed, options=options)
        self.episode += 1
        if self.episode % self.every == 0:
            path = self.folder / f"episode_{self.episode:05d}.mp4"
            self._writer = VideoWriter(path, fps=self.fps)
            self.paths.append(path)
            self._writer.add(obs)
        return obs, info

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        if self._writer is not None:
            self._writer.add(obs)
            if term or trunc:
                self._finish()
        return obs, r, term, trunc, info

    def close(self) -> None:
        self._finish()
        super().close()
