"""Policy interface in the LeRobot spirit, plus checkpoint save/load with validation.

``VLAPolicy``: ``reset(language)``, ``predict_action_chunk(obs) -> (chunk [T, 7], info)``,
``select_action(obs) -> (7,)`` (replays an internal chunk queue). Observations are the
env dict (``agentview_rgb``, ``wrist_rgb`` uint8 HxWx3, ``eef_pos``, ``eef_quat``,
``gripper_qpos``, ...); the instruction comes from ``reset(language=...)`` or
``obs["language"]``. Flow/diffusion noise is seeded by ``noise_seed`` + call index, so
an episode is reproducible.

Checkpoint directory (``save_checkpoint``/``load_policy``)::

    config.json         format tag, family, full shape, policy config, sha256 of the weights
    model.safetensors   weights
    stats.json          normalisation statistics (q01/q99 actions, proprio mean/std)
    tokenizer.json      the word tokenizer

``load_policy`` also loads a directory in LeRobot's layout (``agents.lerobot_policy``).
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from agents.errors import CheckpointError, ObservationError
from agents.features import capture_features
from agents.lerobot_layout import (
    check_features,
    check_normaliser,
    is_lerobot_checkpoint,
    read_lerobot_config,
)
from agents.models.base import StagedVLA
from agents.normalize import NormStats
from agents.preprocess import images_to_tensor, proprio_vector, stack_cameras
from agents.shape_io import shape_from_dict, shape_to_dict
from agents.shapes import VLAShape
from agents.tokenizer import WordTokenizer
from agents.zoo import build_model
from core.errors import not_allowed

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "vla-ecc-lab/policy"
CHECKPOINT_VERSION = 1
DEFAULT_CAMERAS: tuple[str, ...] = ("agentview_rgb", "wrist_rgb")
DEFAULT_PROPRIO: tuple[str, ...] = ("eef_pos", "eef_quat", "gripper_qpos")


SPREAD_SEED_OFFSET = 1_000_003  # separates the spread samples' noise from the acted noise
SAMPLES_SEED_OFFSET = 2_000_003  # the same for the extra samples of sample_action_chunks (BID)


@dataclass
class PolicyConfig:
    """How observations map to model inputs and how chunks are replayed."""

    camera_keys: tuple[str, ...] = DEFAULT_CAMERAS
    proprio_keys: tuple[str, ...] = DEFAULT_PROPRIO
    n_action_steps: int | None = None  # actions executed per chunk; None: the whole chunk
    noise_seed: int = 0  # flow/diffusion noise seed of the first call after reset
    # Flow/diffusion families: the initial noise is drawn as noise_scale * N(0, I). 1 samples
    # the trained distribution; < 1 narrows where integration starts (0: every call starts
    # from zeros, deterministic), the "temperature" knob of flow and diffusion policies. Zeros
    # are not the output's mode: pi0-tiny did worse with them (docs/agents.md).
    noise_scale: float = 1.0
    # Flow/diffusion families: noise samples per inference (the acted one included) whose
    # spread is reported as ``sample_spread``, their uncertainty signal; < 2 = off (each extra
    # sample costs one more batched forward).
    spread_samples: int = 0
    # Report ``features`` (the prefill's final hidden state, ``agents.features``): the signal
    # SAFE-style failure scores read.
    features: bool = False
    extra: dict = field(default_factory=dict)


class VLAPolicy:
    """A staged VLA with its tokenizer and normalisation statistics."""

    def __init__(
        self,
        model: StagedVLA,
        tokenizer: WordTokenizer,
        stats: NormStats,
        config: PolicyConfig | None = None,
    ) -> None:
        self.model = model.eval()
        self.shape = model.shape
        self.tokenizer = tokenizer
        self.stats = stats
        self.config = config or PolicyConfig()
        if len(self.config.camera_keys) != self.shape.cameras:
            raise ObservationError(
                f"camera_keys={list(self.config.camera_keys)} has {len(self.config.camera_keys)} keys; "
                f"allowed: {self.shape.cameras} for shape {self.shape.name!r}"
            )
        self._queue: collections.deque[np.ndarray] = collections.deque()
        self._language: str | None = None
        self._calls = 0
        # Replaces ``model(inputs)`` when set, e.g. by a split executor that runs part of the
        # forward on a cloud server; must return the same outputs dict.
        self.forward_fn: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None

    # ------------------------------------------------------------------ API
    def reset(self, language: str | None = None) -> None:
        """Start an episode: clear the chunk queue, set the instruction, restart the noise seed."""
        self._queue.clear()
        self._language = language
        self._calls = 0

    def model_inputs(self, obs: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Batch-1 model inputs (what ``StagedModel.init_state`` takes) for one observation."""
        s = self.shape
        language = obs.get("language", self._language)
        if language is None:
            raise ObservationError("no instruction: pass reset(language=...) or obs['language']")
        images = images_to_tensor(
            stack_cameras(obs, self.config.camera_keys), s.vision[0].image_size
        )
        inputs: dict[str, torch.Tensor] = {
            "images": images[None],
            "tokens": torch.tensor([self.tokenizer.encode(str(language), s.prompt_tokens)]),
        }
        if s.proprio_dim:
            p = proprio_vector(obs, self.config.proprio_keys)
            if p.shape[-1] != s.proprio_dim:
                raise ObservationError(
                    f"proprio from {list(self.config.proprio_keys)} has {p.shape[-1]} values; "
                    f"allowed: {s.proprio_dim}"
                )
            inputs["proprio"] = torch.from_numpy(self.stats.normalize_proprio(p))[None]
        if s.noise_input:
            inputs["noise"] = self._draw_noise(1, self.config.noise_seed + self._calls)
        return inputs

    @torch.no_grad()
    def predict_action_chunk(self, obs: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        """Run the model once: unnormalised chunk [chunk, action_dim] and info.

        info: ``actions_normalized`` [chunk, A], ``infer_ms`` (wall ms of the forward),
        and for token families ``token_logits`` [n, bins] and ``token_entropy`` [n] (nats);
        for flow/diffusion families with ``spread_samples >= 2``: ``sample_spread`` (normalised
        action units) and ``spread_ms`` (wall ms of the extra samples, not in ``infer_ms``);
        with ``features``: ``features`` [hidden] (float32, ``agents.features``).
        """
        inputs = self.model_inputs(obs)
        self._calls += 1
        t0 = time.perf_counter()
        with capture_features(self.model) if self.config.features else nullcontext() as cap:
            out = (self.forward_fn or self.model)(inputs)
        infer_ms = (time.perf_counter() - t0) * 1e3
        norm = out["actions"][0].cpu().numpy()
        chunk = self.stats.unnormalize_actions(norm)
        info: dict[str, Any] = {"actions_normalized": norm, "infer_ms": infer_ms}
        for key in ("token_logits", "token_entropy"):
            if key in out:
                info[key] = out[key][0].cpu().numpy()
        if cap is not None and (features := cap.value()) is not None:
            info["features"] = features
        if self.config.spread_samples >= 2 and "noise" in inputs:
            t1 = time.perf_counter()
            info["sample_spread"] = self._sample_spread(inputs, out["actions"][:1])
            info["spread_ms"] = (time.perf_counter() - t1) * 1e3
        return chunk, info

    @torch.no_grad()
    def sample_action_chunks(self, obs: dict[str, Any], k: int) -> tuple[np.ndarray, dict]:
        """``k`` chunks [k, chunk, A] (unnormalised) from ``k`` noise draws, one batched forward.

        Sample 0 uses the noise ``predict_action_chunk`` would have used; the others a stream of
        their own. Flow/diffusion families only (the others are deterministic).
        """
        if not self.shape.noise_input:
            raise ObservationError(
                f"sample_action_chunks needs a flow/diffusion policy; shape {self.shape.name!r} "
                f"(family {self.shape.family!r}) is deterministic"
            )
        inputs = self.model_inputs(obs)
        self._calls += 1
        batch = {key: v.expand(k, *v.shape[1:]) for key, v in inputs.items()}
        extra = self._draw_noise(k - 1, SAMPLES_SEED_OFFSET + self.config.noise_seed + self._calls)
        batch["noise"] = torch.cat([inputs["noise"], extra], 0)
        t0 = time.perf_counter()
        norm = (self.forward_fn or self.model)(batch)["actions"].cpu().numpy()
        infer_ms = (time.perf_counter() - t0) * 1e3
        chunks = np.stack([self.stats.unnormalize_actions(n) for n in norm])
        return chunks, {"actions_normalized": norm, "infer_ms": infer_ms}

    def predict_action_chunk_guided(
        self,
        obs: dict[str, Any],
        target: np.ndarray,
        weights: np.ndarray,
        max_guidance_weight: float = 10.0,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A chunk inpainted on ``target`` [chunk, A] (unnormalised actions; rows with weight 0
        are ignored) with the soft mask ``weights`` [chunk] (Real-Time Chunking); same noise as
        ``predict_action_chunk``. Flow/diffusion families only."""
        guided = getattr(self.model, "guided_forward", None)
        if guided is None:
            raise ObservationError(
                f"guided sampling needs a flow/diffusion model; shape {self.shape.name!r} "
                f"(family {self.shape.family!r}) has none"
            )
        head = self.shape.head
        if target.shape != (head.chunk, head.action_dim) or weights.shape != (head.chunk,):
            raise ObservationError(
                f"guidance target {target.shape} / weights {weights.shape}; allowed: "
                f"({head.chunk}, {head.action_dim}) / ({head.chunk},)"
            )
        inputs = self.model_inputs(obs)
        self._calls += 1
        y = torch.from_numpy(self.stats.normalize_actions(target).astype(np.float32))[None]
        t0 = time.perf_counter()
        out = guided(inputs, y, torch.from_numpy(weights.astype(np.float32)), max_guidance_weight)
        infer_ms = (time.perf_counter() - t0) * 1e3
        norm = out["actions"][0].cpu().numpy()
        return self.stats.unnormalize_actions(norm), {
            "actions_normalized": norm,
            "infer_ms": infer_ms,
        }

    def _draw_noise(self, n: int, seed: int) -> torch.Tensor:
        """Initial flow/diffusion noise [n, chunk, A]: ``noise_scale * N(0, I)`` seeded by ``seed``."""
        gen = torch.Generator().manual_seed(seed)
        head = self.shape.head
        noise = torch.randn(n, head.chunk, head.action_dim, generator=gen)
        return noise * self.config.noise_scale

    @torch.no_grad()
    def _sample_spread(self, inputs: dict[str, Any], acted: torch.Tensor) -> float:
        """Mean per-element std (normalised action units) of the chunk over noise samples."""
        k = self.config.spread_samples - 1
        batch = {
            key: v.expand(k, *v.shape[1:]) if torch.is_tensor(v) else v for key, v in inputs.items()
        }
        # A stream of its own: the acted chunk stays what it is without the spread.
        batch["noise"] = self._draw_noise(
            k, SPREAD_SEED_OFFSET + self.config.noise_seed + self._calls
        )
        extra = (self.forward_fn or self.model)(batch)["actions"]
        samples = torch.cat([acted, extra], 0)
        return float(samples.std(0, unbiased=False).mean())

    def select_action(self, obs: dict[str, Any]) -> np.ndarray:
        """Next action (7,): replays the queued chunk, predicting a new one when it is empty."""
        if not self._queue:
            chunk, _ = self.predict_action_chunk(obs)
            n = self.config.n_action_steps or len(chunk)
            self._queue.extend(chunk[:n])
        return self._queue.popleft()


# ------------------------------------------------------------------ checkpoints
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(path: str | Path, policy: VLAPolicy, extra: dict | None = None) -> Path:
    """Write weights + config + stats + tokenizer into directory ``path``; returns it."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "model.safetensors"
    state = {k: v.detach().contiguous().cpu() for k, v in policy.model.state_dict().items()}
    save_file(state, str(weights))
    (out / "stats.json").write_text(json.dumps(policy.stats.to_dict(), indent=1))
    policy.tokenizer.save(out / "tokenizer.json")
    config = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "family": policy.shape.family,
        "shape": shape_to_dict(policy.shape),
        "policy": asdict(policy.config),
        "param_count": sum(p.numel() for p in policy.model.parameters()),
        "weights_sha256": _sha256(weights),
        "extra": extra or {},
    }
    (out / "config.json").write_text(json.dumps(config, indent=1))
    return out


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise CheckpointError(f"checkpoint lacks {what} ({path.name}) in {path.parent}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{what} {path} is not valid JSON ({e}); the file is corrupt") from e


def read_checkpoint_config(path: str | Path) -> dict:
    """Parse and check ``config.json`` of a checkpoint directory."""
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(f"checkpoint path={str(root)!r} is not a directory")
    config = _read_json(root / "config.json", "config")
    _check_format(config, "config")
    return config


def _check_format(config: dict, what: str) -> None:
    if config.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            not_allowed(f"{what} format", config.get("format"), [CHECKPOINT_FORMAT])
        )
    if config.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            not_allowed("format_version", config.get("format_version"), [CHECKPOINT_VERSION])
        )


def load_policy(
    path: str | Path, family: str | None = None, shape_name: str | None = None, device: str = "cpu"
) -> VLAPolicy:
    """Load a checkpoint written by ``save_checkpoint`` or, for a directory in LeRobot's layout,
    by ``agents.lerobot_policy.save_lerobot_checkpoint``; every mismatch raises CheckpointError.

    ``family``/``shape_name``, when given, must match what the checkpoint holds.
    """
    root = Path(path)
    if root.is_dir() and is_lerobot_checkpoint(root):
        return _load_lerobot_layout(root, family, shape_name, device)
    config = read_checkpoint_config(root)
    shape = checked_shape(root, config, family, shape_name)
    stats = NormStats.from_dict(
        _read_json(root / "stats.json", "normalisation stats"),
        shape.head.action_dim,
        shape.proprio_dim,
    )
    tokenizer = read_tokenizer(root)
    return assemble_policy(
        root,
        shape,
        config.get("weights_sha256"),
        stats,
        tokenizer,
        config.get("policy", {}),
        device,
    )


def _load_lerobot_layout(
    root: Path, family: str | None, shape_name: str | None, device: str
) -> VLAPolicy:
    """A directory in LeRobot's layout (``agents.lerobot_policy``): our config in its ``vecc``
    block, stats.json (checked against LeRobot's normaliser files), tokenizer, weights."""
    config, vecc = read_lerobot_config(root)
    _check_format(vecc, f"vecc block of {root / 'config.json'}")
    shape = checked_shape(root, vecc, family, shape_name)
    stats = NormStats.from_dict(
        _read_json(root / "stats.json", "normalisation stats"),
        shape.head.action_dim,
        shape.proprio_dim,
    )
    check_normaliser(root, stats, bool(shape.proprio_dim))
    policy = assemble_policy(
        root,
        shape,
        vecc.get("weights_sha256"),
        stats,
        read_tokenizer(root),
        vecc.get("policy", {}),
        device,
    )
    check_features(config, root, shape, policy.config.camera_keys)
    return policy


def checked_shape(root: Path, config: dict, family: str | None, shape_name: str | None) -> VLAShape:
    """The shape a checkpoint config holds, after checking the requested family/shape name."""
    if family is not None and config.get("family") != family:
        raise CheckpointError(
            f"checkpoint {root} holds family={config.get('family')!r}; requested family={family!r}"
        )
    if "shape" not in config:
        raise CheckpointError(f"checkpoint config in {root} lacks 'shape'")
    shape = shape_from_dict(config["shape"])
    if shape_name is not None and shape.name != shape_name:
        raise CheckpointError(
            f"checkpoint {root} holds shape={shape.name!r}; requested shape={shape_name!r}"
        )
    return shape


def read_tokenizer(root: Path) -> WordTokenizer:
    """``tokenizer.json`` of a checkpoint directory; CheckpointError when absent or malformed."""
    try:
        return WordTokenizer.from_dict(_read_json(root / "tokenizer.json", "tokenizer"))
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"tokenizer.json in {root} is malformed: {e}") from e


def assemble_policy(
    root: Path,
    shape: VLAShape,
    weights_sha256: str | None,
    stats: NormStats,
    tokenizer: WordTokenizer,
    pc: dict,
    device: str = "cpu",
) -> VLAPolicy:
    """The policy from ``root/model.safetensors`` (hash and every tensor shape checked) and the
    parsed rest of a checkpoint; ``pc`` is the saved ``PolicyConfig`` as a dict."""
    weights = root / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"checkpoint lacks weights (model.safetensors) in {root}")
    digest = _sha256(weights)
    if digest != weights_sha256:
        raise CheckpointError(
            f"weights {weights} are corrupt or truncated: sha256 {digest[:12]}... != recorded "
            f"{str(weights_sha256)[:12]}..."
        )
    try:
        state = load_file(str(weights), device=device)
    except Exception as e:  # safetensors raises its own error type for bad headers
        raise CheckpointError(f"weights {weights} cannot be read as safetensors: {e}") from e
    model = build_model(shape, device)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"weights do not match shape {shape.name!r}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for k, v in state.items():
        if v.shape != expected[k].shape:
            raise CheckpointError(
                f"weight {k} has shape {tuple(v.shape)}; allowed: {tuple(expected[k].shape)} for {shape.name!r}"
            )
    model.load_state_dict(state)
    policy_config = PolicyConfig(
        camera_keys=tuple(pc.get("camera_keys", DEFAULT_CAMERAS)),
        proprio_keys=tuple(pc.get("proprio_keys", DEFAULT_PROPRIO)),
        n_action_steps=pc.get("n_action_steps"),
        noise_seed=int(pc.get("noise_seed", 0)),
        noise_scale=float(pc.get("noise_scale", 1.0)),
        spread_samples=int(pc.get("spread_samples", 0)),
        extra=dict(pc.get("extra", {})),
    )
    return VLAPolicy(model, tokenizer, stats, policy_config)
