"""Does a trained policy look at the scene? Its first action vs the demonstrations' first action.

    vecc-study study=first_action_check checkpoint=CHECKPOINT demos=data/object_50.hdf5 [frame=0]

Fields: conf/study/first_action_check.yaml (old positional CKPT DEMOS -> checkpoint= demos=).

At the first frame of a demonstration the robot has not moved, so proprio is the same in every
demo and only the images (and the instruction) say which way to go. Per demonstration the
policy predicts the chunk at ``frame``; the table gives the Pearson r between its first
action and the demonstrated one along x, y, z, with the real images and with the images of
another demonstration of the same instruction (a different object layout). A policy that
locates its object has high r with the real images and loses it with the swapped ones; equal
rows mean the output does not depend on where the objects are. Runs in seconds, so it is a
cheap signal while training, long before closed-loop success moves.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.lerobot_format import load_any_demos
from agents.policy import load_policy
from agents.preprocess import images_to_tensor
from core.errors import not_allowed
from experiments.apps import as_args
from experiments.tables import fmt, markdown_table

log = logging.getLogger(__name__)

AXES = ("x", "y", "z")


def swapped_within_instruction(languages: list[str]) -> np.ndarray:
    """Index of another demo with the same instruction (the next one, cyclically), per demo."""
    out = np.arange(len(languages))
    by: dict[str, list[int]] = {}
    for i, lang in enumerate(languages):
        by.setdefault(lang, []).append(i)
    for idx in by.values():
        out[idx] = np.roll(idx, -1)
    return out


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r; NaN when either side is constant."""
    sa, sb = a.std(), b.std()
    if sa < 1e-12 or sb < 1e-12:
        return float("nan")
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))


@torch.no_grad()
def first_actions(policy: Any, data: Any, rows: np.ndarray, image_rows: np.ndarray) -> np.ndarray:
    """Unnormalised first action [len(rows), A] of the chunk predicted at ``rows``, with the
    images taken from ``image_rows`` (same noise for every row of the flow/diffusion heads)."""
    s = policy.shape
    tokens = torch.tensor(
        [
            policy.tokenizer.encode(data.languages[d], s.prompt_tokens)
            for d in data.demo_of_row[rows]
        ]
    )
    out = []
    for lo in range(0, len(rows), 64):
        sl = slice(lo, lo + 64)
        inputs: dict[str, torch.Tensor] = {
            "images": images_to_tensor(data.images[image_rows[sl]], s.vision[0].image_size),
            "tokens": tokens[sl],
        }
        if s.proprio_dim:
            inputs["proprio"] = torch.from_numpy(
                policy.stats.normalize_proprio(data.proprio[rows[sl]])
            )
        if s.noise_input:
            gen = torch.Generator().manual_seed(policy.config.noise_seed)
            noise = torch.randn(1, s.head.chunk, s.head.action_dim, generator=gen)
            inputs["noise"] = noise.expand(len(inputs["tokens"]), -1, -1)
        norm = policy.model(inputs)["actions"][:, 0].cpu().numpy()
        out.append(policy.stats.unnormalize_actions(norm))
    return np.concatenate(out)


def check(checkpoint: str | Path, demos: str | Path, frame: int = 0) -> dict[str, dict[str, float]]:
    """{"real": {x, y, z}, "swapped": {x, y, z}}: Pearson r of first actions vs the demos'."""
    if frame < 0:
        raise ValueError(not_allowed("frame", frame, "an integer >= 0"))
    policy = load_policy(checkpoint)
    policy.model.eval()
    data = load_any_demos(
        demos,
        policy.config.camera_keys,
        policy.config.proprio_keys,
        policy.shape.vision[0].image_size,
    )
    rows = data.demo_start + np.minimum(frame, data.demo_len - 1)
    labels = data.actions[rows]
    result = {}
    for name, image_rows in (
        ("real", rows),
        ("swapped", rows[swapped_within_instruction(data.languages)]),
    ):
        pred = first_actions(policy, data, rows, image_rows)
        result[name] = {ax: pearson(pred[:, i], labels[:, i]) for i, ax in enumerate(AXES)}
    return result


def format_table(result: dict[str, dict[str, float]], frame: int) -> str:
    """Markdown: one row per image source, Pearson r per axis (2 decimals)."""
    head = f"images (frame {frame})"
    rows = [{head: name, **{f"r({a})": r[a] for a in AXES}} for name, r in result.items()]
    return markdown_table(rows, cell=lambda v: fmt(v, 2))


def run(cfg: Any) -> None:
    """The study app's entry (conf/study/first_action_check.yaml): print the table."""
    args = as_args(cfg)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(format_table(check(args.checkpoint, args.demos, args.frame), args.frame))


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("study", "first_action_check")
