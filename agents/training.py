"""Behaviour-cloning trainer for the tiny VLA families (used by ``experiments.train``).

Deterministic for a given seed and thread count: three independent RNG streams
(numpy for batch rows, torch for augmentation, torch for loss noise) plus the model
init seed; all of them and the optimizer state are checkpointed, so a resumed run
continues exactly where the interrupted one would have gone.

Output directory::

    train_log.jsonl                 one JSON line per logged step (step, loss, lr, it/s)
    checkpoints/step_0000500/       policy checkpoint (agents.policy) + train_state.{safetensors,json}
    checkpoints/latest.json         {"step": ..., "path": ...}
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from agents.data import DemoArrays, action_chunks, random_shift
from agents.errors import AgentsError, CheckpointError
from agents.lerobot_format import load_any_demos
from agents.normalize import NormStats
from agents.policy import (
    DEFAULT_CAMERAS,
    DEFAULT_PROPRIO,
    PolicyConfig,
    VLAPolicy,
    load_policy,
    read_checkpoint_config,
    save_checkpoint,
)
from agents.preprocess import images_to_tensor
from agents.tokenizer import WordTokenizer
from agents.zoo import build_model, get_shape, text_vocab_size
from core.errors import not_allowed

log = logging.getLogger(__name__)
WANDB_MODES: tuple[str, ...] = ("offline", "online", "disabled")


@dataclass
class TrainConfig:
    """Every knob of a training run (Hydra fills it from ``conf/policy`` + the command line)."""

    shape: str = "oft-tiny"
    # one HDF5 path or LeRobotDataset v3 root (a directory with meta/info.json), or a list
    # of them read as one concatenated set
    demos: str | list[str] = ""
    out_dir: str = "outputs/train"
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-4  # peak learning rate (AdamW), cosine-decayed to lr * min_lr_ratio
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    save_every: int = 500
    log_every: int = 10
    aug_shift_px: int = 4  # random-shift augmentation (pixels at the model's input size)
    num_threads: int = 1  # torch intra-op threads; 2 was 4x slower than 1 on the shared 2-core box
    max_demos: int | None = None
    camera_keys: tuple[str, ...] = DEFAULT_CAMERAS
    proprio_keys: tuple[str, ...] = DEFAULT_PROPRIO
    tokenizer_oov: str = "error"
    extra_instructions: tuple[str, ...] = ()  # words to add to the vocabulary beyond the demos'
    vocab_from_suites: bool = True  # also add every envs suite instruction (evaluate on any task)
    n_action_steps: int | None = None  # stored in the policy config for evaluation
    # Training-only auxiliary loss on shapes whose towers have keypoints: an MLP on the keypoints
    # regresses the mean normalised translation (x, y, z) of the target chunk. Without it the
    # keypoints stayed uninformative and the first action ignored the images (docs/agents.md).
    # The head is not part of the policy: checkpoints and inference never see it. 0: off.
    aux_keypoint_weight: float = 10.0
    resume: bool = True
    progress: bool = True
    wandb_mode: str = "offline"
    wandb_project: str = "vla-ecc-lab"
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        get_shape(self.shape)
        if self.wandb_mode not in WANDB_MODES:
            raise AgentsError(not_allowed("wandb_mode", self.wandb_mode, WANDB_MODES))
        for name in ("steps", "batch_size", "save_every", "log_every", "num_threads"):
            if int(getattr(self, name)) < 1:
                raise AgentsError(not_allowed(name, getattr(self, name), "an integer >= 1"))
        if self.lr <= 0:
            raise AgentsError(not_allowed("lr", self.lr, "a float > 0"))
        if self.aux_keypoint_weight < 0:
            raise AgentsError(
                not_allowed("aux_keypoint_weight", self.aux_keypoint_weight, "a float >= 0")
            )


@dataclass
class TrainResult:
    checkpoint: Path
    steps: int
    losses: list[float]
    seconds: float


class _Batcher:
    """Seeded batches of model inputs and normalised action chunks."""

    def __init__(self, data: DemoArrays, policy: VLAPolicy, cfg: TrainConfig) -> None:
        self.data = data
        self.shape = policy.shape
        self.cfg = cfg
        self.actions_n = policy.stats.normalize_actions(data.actions)
        self.proprio_n = policy.stats.normalize_proprio(data.proprio)
        self.tokens = torch.tensor(
            [policy.tokenizer.encode(lang, self.shape.prompt_tokens) for lang in data.languages]
        )
        self.rng = np.random.default_rng(cfg.seed)
        self.aug = torch.Generator().manual_seed(cfg.seed + 1)

    def next(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        s, d, b = self.shape, self.data, self.cfg.batch_size
        rows = self.rng.integers(0, len(d.actions), b)
        size = s.vision[0].image_size
        img = images_to_tensor(d.images[rows], size)  # [B, cams, 3, S, S]
        flat = random_shift(img.reshape(-1, 3, size, size), self.cfg.aug_shift_px, self.aug)
        inputs = {
            "images": flat.reshape(img.shape),
            "tokens": self.tokens[d.demo_of_row[rows]],
        }
        if s.proprio_dim:
            inputs["proprio"] = torch.from_numpy(self.proprio_n[rows])
        actions = torch.from_numpy(action_chunks_from(self.actions_n, d, rows, s.head.chunk))
        return inputs, actions


class KeypointAuxHead(nn.Module):
    """Training-only readout: every camera's tower keypoints -> mean chunk translation (3,).

    Captures the keypoints the projector receives (a forward pre-hook), so the policy's own
    forward pass feeds it and nothing is computed twice.
    """

    def __init__(self, model: nn.Module, hidden: int = 256) -> None:
        super().__init__()
        shape = model.shape
        n_in = shape.cameras * sum(v.keypoint_dim for v in shape.vision)
        self.mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, 3))
        self._seen: dict[str, torch.Tensor] = {}
        model.projector.register_forward_pre_hook(self._capture)

    def _capture(self, _module: nn.Module, args: tuple) -> None:
        self._seen = dict(args[2]) if len(args) > 2 and args[2] else {}

    def loss(self, actions: torch.Tensor) -> torch.Tensor:
        """MSE between the prediction and ``actions[:, :, :3].mean(1)`` (normalised units)."""
        if not self._seen:
            raise RuntimeError("KeypointAuxHead.loss before a forward pass of the policy")
        b = actions.shape[0]
        kp = torch.cat([self._seen[k].reshape(b, -1) for k in sorted(self._seen)], dim=-1)
        return F.mse_loss(self.mlp(kp), actions[:, :, :3].mean(dim=1))


def action_chunks_from(
    actions: np.ndarray, d: DemoArrays, rows: np.ndarray, chunk: int
) -> np.ndarray:
    """Like ``action_chunks`` but over an alternative (e.g. normalised) action array."""
    view = DemoArrays(
        d.images[:0], d.proprio[:0], actions, d.demo_start, d.demo_len, d.demo_of_row, d.languages
    )
    return action_chunks(view, rows, chunk)


def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)


def suite_instructions() -> list[str]:
    """Language of every task of every envs suite (imports envs lazily: it loads robosuite)."""
    # lazy: envs loads robosuite (~1 s); only the instruction list needs it
    from envs.make import get_task, list_suites, list_tasks

    return [get_task(s, t).language for s in list_suites() for t in list_tasks(s)]


def init_weights(model: torch.nn.Module, seed: int) -> None:
    """Seeded init: PyTorch defaults for layers, N(0, 0.02) for learned tokens/positions."""
    torch.manual_seed(seed)
    for m in model.modules():
        if hasattr(m, "reset_parameters") and m is not model:
            m.reset_parameters()
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("pos", "prefix", "extra", "latent"):
            torch.nn.init.normal_(p, std=0.02)


# ----------------------------------------------------------------- train state
def _save_train_state(
    path: Path,
    step: int,
    opt: torch.optim.Optimizer,
    batcher: _Batcher,
    loss_gen: torch.Generator,
    aux: KeypointAuxHead | None = None,
) -> None:
    sd = opt.state_dict()
    tensors = {
        f"opt.{i}.{k}": v.contiguous() for i, st in sd["state"].items() for k, v in st.items()
    }
    if aux is not None:
        tensors |= {f"aux.{k}": v.contiguous() for k, v in aux.state_dict().items()}
    tensors["rng.aug"] = batcher.aug.get_state()
    tensors["rng.loss"] = loss_gen.get_state()
    save_file(tensors, str(path / "train_state.safetensors"))
    meta = {
        "step": step,
        "param_groups": sd["param_groups"],
        "numpy_rng": batcher.rng.bit_generator.state,
        "config": asdict(batcher.cfg),
    }
    (path / "train_state.json").write_text(json.dumps(meta, indent=1, default=list))


def _load_train_state(
    path: Path,
    opt: torch.optim.Optimizer,
    batcher: _Batcher,
    loss_gen: torch.Generator,
    aux: KeypointAuxHead | None = None,
) -> int:
    try:
        meta = json.loads((path / "train_state.json").read_text())
        tensors = load_file(str(path / "train_state.safetensors"))
    except Exception as e:
        raise CheckpointError(f"training state in {path} is missing or corrupt: {e}") from e
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    if aux is not None:
        aux_sd = {k[4:]: v for k, v in tensors.items() if k.startswith("aux.")}
        if not aux_sd:
            raise CheckpointError(
                f"training state in {path} has no auxiliary keypoint head; resume it with "
                "aux_keypoint_weight=0 or start a new out_dir"
            )
        aux.load_state_dict(aux_sd)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    batcher.aug.set_state(tensors["rng.aug"])
    loss_gen.set_state(tensors["rng.loss"])
    batcher.rng.bit_generator.state = meta["numpy_rng"]
    return int(meta["step"])


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    f = Path(out_dir) / "checkpoints" / "latest.json"
    if not f.is_file():
        return None
    return Path(json.loads(f.read_text())["path"])


# ----------------------------------------------------------------------- loop
def _wandb(cfg: TrainConfig, out: Path) -> Any:
    if cfg.wandb_mode == "disabled":
        return None
    import wandb

    return wandb.init(
        project=cfg.wandb_project,
        mode=cfg.wandb_mode,
        dir=str(out),
        config=asdict(cfg),
        job_type="train",
        name=f"{cfg.shape}-seed{cfg.seed}",
    )


def train(cfg: TrainConfig) -> TrainResult:
    """Train (or resume) a tiny policy on ``cfg.demos``; returns the final checkpoint."""
    cfg.validate()
    torch.set_num_threads(cfg.num_threads)
    out = Path(cfg.out_dir)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    shape = get_shape(cfg.shape)
    data = load_any_demos(
        cfg.demos,
        tuple(cfg.camera_keys),
        tuple(cfg.proprio_keys),
        shape.vision[0].image_size,
        cfg.max_demos,
    )

    resume_from = latest_checkpoint(out) if cfg.resume else None
    seconds_before = 0.0  # compute time of the run this one resumes (s)
    if resume_from is not None:
        policy = load_policy(resume_from, shape_name=shape.name)
        seconds_before = float(
            read_checkpoint_config(resume_from)["extra"].get("train_seconds", 0.0)
        )
        log.info("resuming from %s", resume_from)
    else:
        stats = NormStats.from_data(data.actions, data.proprio)
        extra = list(cfg.extra_instructions) + (
            suite_instructions() if cfg.vocab_from_suites else []
        )
        tok = WordTokenizer.build(
            [*data.languages, *extra],
            capacity=text_vocab_size(shape),
            oov=cfg.tokenizer_oov,
        )
        model = build_model(shape)
        init_weights(model, cfg.seed)
        pcfg = PolicyConfig(tuple(cfg.camera_keys), tuple(cfg.proprio_keys), cfg.n_action_steps)
        policy = VLAPolicy(model, tok, stats, pcfg)
    model = policy.model.train()
    aux = None
    if cfg.aux_keypoint_weight > 0 and any(v.keypoints for v in shape.vision):
        torch.manual_seed(cfg.seed + 3)
        aux = KeypointAuxHead(model)
    params = [*model.parameters(), *(aux.parameters() if aux is not None else ())]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    batcher = _Batcher(data, policy, cfg)
    loss_gen = torch.Generator().manual_seed(cfg.seed + 2)
    step = (
        _load_train_state(resume_from, opt, batcher, loss_gen, aux)
        if resume_from is not None
        else 0
    )

    run = _wandb(cfg, out)
    losses: list[float] = []
    t_start = time.perf_counter()
    t_log, n_log = time.perf_counter(), 0
    bar = None
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.shape}", dynamic_ncols=True)
    ckpt = resume_from
    with (out / "train_log.jsonl").open("a") as log_file:
        while step < cfg.steps:
            inputs, actions = batcher.next()
            lr = _lr(cfg, step)
            for g in opt.param_groups:
                g["lr"] = lr
            loss, metrics = model.loss(inputs, actions, loss_gen)
            if aux is not None:
                aux_loss = aux.loss(actions)
                loss = loss + cfg.aux_keypoint_weight * aux_loss
                metrics["aux_keypoint_loss"] = float(aux_loss.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            step += 1
            n_log += 1
            losses.append(metrics["loss"])
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.4f}")
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.perf_counter()
                row = {
                    "step": step,
                    "lr": lr,
                    "grad_norm": float(gnorm),
                    "it_per_s": n_log / (now - t_log),
                    **metrics,
                }
                t_log, n_log = now, 0
                log_file.write(json.dumps(row) + "\n")
                log_file.flush()
                if run is not None:
                    run.log({f"train/{k}": v for k, v in row.items() if k != "step"}, step=step)
            if step % cfg.save_every == 0 or step == cfg.steps:
                ckpt = out / "checkpoints" / f"step_{step:07d}"
                model.eval()
                extra = {
                    "step": step,
                    # wall seconds of training so far, across resumes (checkpoint writes included)
                    "train_seconds": seconds_before + time.perf_counter() - t_start,
                    "train_config": asdict(cfg),
                }
                save_checkpoint(ckpt, policy, extra=extra)
                model.train()
                _save_train_state(ckpt, step, opt, batcher, loss_gen, aux)
                (out / "checkpoints" / "latest.json").write_text(
                    json.dumps({"step": step, "path": str(ckpt)})
                )
    if bar is not None:
        bar.close()
    if run is not None:
        run.finish()
    model.eval()
    if ckpt is None:
        raise CheckpointError(f"no checkpoint written: steps={cfg.steps} already reached in {out}")
    return TrainResult(ckpt, step, losses, time.perf_counter() - t_start)
