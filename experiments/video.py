"""Rollout videos with the decisions beside the scene: a subscriber that renders each control step.

The frame is the agent-view camera rendered at ``size`` px by a renderer of its own (the policy's
observation keeps the env's ``image_size``), with a panel of the same height to its right: step and
world time, where the action came from (fresh / cached / hold), the latest inference's latency and
cut, the activation precision, and whether the scheduler triggered an inference at this step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ecc.runtime.records import ActionSource, EpisodeRecord, InferenceTiming, StepEvent
from ecc.runtime.subscribers import SubscriberBase
from envs.gym_env import AGENTVIEW_CAMERA
from envs.render import CameraRenderer
from experiments.sweep_records import cut_description

PANEL_FONT_PX = 10
_PANEL_BG = (24, 24, 24)
_TEXT = (235, 235, 235)
_TRIGGER = (255, 190, 60)
_HOLD = (240, 90, 90)


class VideoRecorder(SubscriberBase):
    """Collects one episode's frames (``on_step``) and writes ``path`` as mp4 at the episode's end.

    ``env``: the environment being stepped (its MuJoCo ``model``/``data`` are read, never changed);
    ``size``: scene px (square); ``fps``: video frame rate (the control rate, 20 Hz, plays in real
    time).
    """

    def __init__(self, env: Any, path: str | Path, size: int = 128, fps: int = 20) -> None:
        from PIL import ImageFont  # only runs that write videos need Pillow's font

        base = env.unwrapped
        self.path = Path(path)
        self.fps = fps
        self.size = size
        self._renderer = CameraRenderer(
            base.model, base.data, size, **dict(getattr(base, "_render_options", {}) or {})
        )
        self._font = ImageFont.load_default(size=PANEL_FONT_PX)
        self._frames: list[np.ndarray] = []
        self._last: InferenceTiming | None = None

    def on_step(self, event: StepEvent) -> None:
        if event.inference is not None:
            self._last = event.inference
        scene = self._renderer.render(AGENTVIEW_CAMERA)
        self._frames.append(np.concatenate([scene, self._panel(event)], axis=1))

    def _panel(self, event: StepEvent) -> np.ndarray:
        from PIL import Image, ImageDraw

        panel = Image.new("RGB", (self.size, self.size), _PANEL_BG)
        draw = ImageDraw.Draw(panel)
        last = self._last
        source = event.action_source.value
        lines: list[tuple[str, tuple[int, int, int]]] = [
            (f"step {event.step}  {event.world_time_s:.2f} s", _TEXT),
            (f"action {source}", _HOLD if event.action_source is ActionSource.HOLD else _TEXT),
            (f"infer {last.total_ms:.0f} ms" if last else "infer -", _TEXT),
            (f"cut {cut_description(last.cut) if last and last.cut else '-'}", _TEXT),
        ]
        if last is not None and last.uplink_mbps is not None:
            lines.append((f"up {last.uplink_mbps:.1f} Mbit/s", _TEXT))
        bits = event.act_bits if event.act_bits is not None else (last.act_bits if last else None)
        lines.append((f"act bits {bits}" if bits is not None else "act bits -", _TEXT))
        trigger = event.inference_started
        lines.append(("TRIGGER: infer" if trigger else "trigger -", _TRIGGER if trigger else _TEXT))
        line_px = PANEL_FONT_PX + 3
        for k, (text, colour) in enumerate(lines):
            draw.text((4, 3 + k * line_px), _fit(draw, text, self._font, self.size - 6), colour,
                      font=self._font)  # fmt: skip
        return np.asarray(panel, dtype=np.uint8)

    def on_episode_end(self, record: EpisodeRecord) -> None:
        import imageio.v2 as imageio

        try:
            if self._frames:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                imageio.mimwrite(str(self.path), self._frames, fps=self.fps, macro_block_size=1)
        finally:
            self._frames = []
            self._renderer.close()


def _fit(draw: Any, text: str, font: Any, width_px: int) -> str:
    """``text`` cut (with an ellipsis) to fit ``width_px``."""
    if draw.textlength(text, font=font) <= width_px:
        return text
    while text and draw.textlength(text + "...", font=font) > width_px:
        text = text[:-1]
    return text + "..."
