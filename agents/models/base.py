"""Shared VLM prefix (vision towers -> projector -> embeddings -> LLM prefill) for every family.

Token order in the LLM sequence: ``[vision (camera-major), proprio?, prompt, family extras]``.
Family extras: OFT appends ``chunk * action_dim`` learned action queries, CogACT one
learned cognition token. The prompt is a fixed-length, right-padded id sequence; pad
tokens are ordinary (attended) tokens, so the sequence length never depends on text.

The monolithic ``forward`` and the stage handlers call the same helpers; the equality
test checks the plumbing between them (which tensors cross, KV growth, positions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from agents.errors import ObservationError, ShapeConfigError
from agents.layers import Block, BlockConfig, Projector, VisionTower, make_norm
from agents.shapes import DecoderShape, VLAShape
from agents.staged import BoundaryState, StageSpec

log = logging.getLogger(__name__)


class Decoder(nn.Module):
    """Llama-style decoder layers + final norm + (untied) LM head. Embeddings live in PrefixEmbed."""

    def __init__(self, d: DecoderShape, device: torch.device | None = None) -> None:
        super().__init__()
        cfg = BlockConfig.from_decoder(d)
        self.layers = nn.ModuleList(Block(cfg, device) for _ in range(d.layers))
        self.norm = make_norm(d.norm, d.hidden, device)
        if d.vocab_size and not d.tie_embeddings:
            self.lm_head = nn.Linear(d.hidden, d.vocab_size, bias=False, device=device)


class PrefixEmbed(nn.Module):
    """Token embedding table plus the small input projections (proprio, learned extra tokens)."""

    def __init__(self, shape: VLAShape, n_extra: int, device: torch.device | None = None) -> None:
        super().__init__()
        d = shape.llm.hidden
        self.tokens = nn.Embedding(max(shape.llm.vocab_size, 1), d, device=device)
        if shape.proprio_in_prefix:
            self.proprio = nn.Linear(shape.proprio_dim, d, device=device)
        self.n_extra = n_extra
        if n_extra:
            self.extra = nn.Parameter(torch.zeros(1, n_extra, d, device=device))


class StagedVLA(nn.Module):
    """Base class: builds the VLM prefix modules and runs its stages.

    Subclasses set ``family``, ``n_extra_tokens``, ``prefill_writes_kv`` and implement
    ``_head_stages``, ``_run_head_stage``, ``_head_forward`` and ``outputs``.
    Inputs (``init_state``/``forward``): ``images`` float [B, cams, C, H, W] (normalised),
    ``tokens`` long [B, prompt_tokens], ``proprio`` float [B, proprio_dim] when the shape
    has proprio, ``noise`` float [B, chunk, action_dim] for pi0/cogact.
    """

    family: ClassVar[str] = ""
    prefill_writes_kv: ClassVar[bool] = False

    def __init__(self, shape: VLAShape, device: torch.device | None = None) -> None:
        super().__init__()
        if shape.family != self.family:
            raise ShapeConfigError(
                f"shape.family={shape.family!r} cannot build a {type(self).__name__}; "
                f"allowed: {self.family!r}"
            )
        self.shape = shape
        self.towers = nn.ModuleDict({v.name: VisionTower(v, device) for v in shape.vision})
        self.projector = Projector(shape.vision, shape.projector, device)
        self.embed = PrefixEmbed(shape, self.n_extra_tokens(), device)
        self.llm = Decoder(shape.llm, device)
        self._stage_list: list[StageSpec] | None = None

    # ----------------------------------------------------------------- hooks
    def n_extra_tokens(self) -> int:
        """LLM tokens after the prefix: the family's registered fact (``agents.families``)."""
        return self.shape.extra_llm_tokens

    def prefill_mask(self, device: torch.device) -> torch.Tensor | None:
        """Boolean [S, S] mask of the prefill pass (True = attend). Default: causal."""
        s = self.shape.llm_tokens
        return torch.ones(s, s, dtype=torch.bool, device=device).tril()

    def _head_stages(self) -> list[StageSpec]:
        raise NotImplementedError

    def _run_head_stage(self, spec: StageSpec, state: BoundaryState) -> BoundaryState:
        raise NotImplementedError

    # ----------------------------------------------------------- shared math
    def lm_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Full-vocabulary logits of already-normalised hidden states."""
        if hasattr(self.llm, "lm_head"):
            return self.llm.lm_head(x)
        return nn.functional.linear(x, self.embed.tokens.weight)

    def _flat_images(self, images: torch.Tensor) -> torch.Tensor:
        b, c = images.shape[:2]
        return images.reshape(b * c, *images.shape[2:])

    def _embed_prefix(
        self, vis: torch.Tensor, tokens: torch.Tensor, proprio: torch.Tensor | None
    ) -> torch.Tensor:
        parts = [vis]
        if self.shape.proprio_in_prefix:
            parts.append(self.embed.proprio(proprio)[:, None, :])
        parts.append(self.embed.tokens(tokens))
        if self.embed.n_extra:
            parts.append(self.embed.extra.expand(vis.shape[0], -1, -1))
        return torch.cat(parts, dim=1)

    def _positions(self, device: torch.device) -> torch.Tensor:
        return torch.arange(self.shape.llm_tokens, device=device)

    def vision_forward(self, inputs: dict[str, Any]) -> torch.Tensor:
        """Towers + projector: images [B, cams, C, H, W] -> vision tokens [B, T, D_llm]."""
        images = self._flat_images(inputs["images"])
        feats, keypoints = {}, {}
        for v in self.shape.vision:
            tower = self.towers[v.name]
            x, kp = tower.embed.embed_and_keypoints(images, inputs.get("tokens"))
            for i in range(v.blocks_run):
                x = tower.blocks[i](x)[0]
            feats[v.name] = x
            if kp is not None:
                keypoints[v.name] = kp
        return self.projector(feats, self.shape.cameras, keypoints)

    def prefix_forward(
        self, inputs: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Monolithic VLM pass: returns the last hidden state [B, S, D] and per-layer (k, v)."""
        vis = self.vision_forward(inputs)
        h = self._embed_prefix(vis, inputs["tokens"], inputs.get("proprio"))
        pos = self._positions(h.device)
        mask = self.prefill_mask(h.device)
        kvs = []
        for layer in self.llm.layers:
            h, k, v = layer(h, pos, mask)
            kvs.append((k, v))
        return h, kvs

    # ------------------------------------------------------- StagedModel API
    def stages(self) -> list[StageSpec]:
        if self._stage_list is None:
            self._stage_list = self._prefix_stages() + self._head_stages()
        return list(self._stage_list)

    def _prefix_stages(self) -> list[StageSpec]:
        out: list[StageSpec] = []
        for v in self.shape.vision:
            key = f"vision.{v.name}.x"
            out.append(
                StageSpec(
                    f"vision.{v.name}.patch_embed",
                    "vision_patch",
                    f"towers.{v.name}.embed",
                    ("images", "tokens") if v.film_vocab else ("images",),
                    (key, f"vision.{v.name}.kp") if v.keypoints else (key,),
                )
            )
            for i in range(v.blocks_run):
                out.append(
                    StageSpec(
                        f"vision.{v.name}.block{i}",
                        "vision_block",
                        f"towers.{v.name}.blocks.{i}",
                        (key,),
                        (key,),
                        layer=i,
                    )
                )
        out.append(
            StageSpec(
                "projector",
                "projector",
                "projector",
                tuple(f"vision.{v.name}.x" for v in self.shape.vision)
                + tuple(f"vision.{v.name}.kp" for v in self.shape.vision if v.keypoints),
                ("prefix.vision",),
            )
        )
        reads = ("prefix.vision", "tokens") + (("proprio",) if self.shape.proprio_in_prefix else ())
        out.append(StageSpec("llm.embed", "embed", "embed", reads, ("llm.h",)))
        for i in range(self.shape.llm.layers):
            writes = ("llm.h", f"kv.{i}.k", f"kv.{i}.v") if self.prefill_writes_kv else ("llm.h",)
            out.append(
                StageSpec(
                    f"llm.prefill.layer{i}",
                    "llm_layer",
                    f"llm.layers.{i}",
                    ("llm.h",),
                    writes,
                    layer=i,
                )
            )
        return out

    def init_state(self, inputs: dict[str, Any]) -> BoundaryState:
        self.check_inputs(inputs)
        keys = ["images", "tokens"] + (["proprio"] if self.shape.proprio_dim else [])
        return {k: inputs[k] for k in keys}

    def check_inputs(self, inputs: dict[str, Any]) -> None:
        """Raise ObservationError naming the key when an input is missing or mis-shaped."""
        s = self.shape
        v = s.vision[0]
        want = {
            "images": (s.cameras, v.channels, v.image_size, v.image_size),
            "tokens": (s.prompt_tokens,),
        }
        if s.proprio_dim:
            want["proprio"] = (s.proprio_dim,)
        for key, tail in want.items():
            if key not in inputs:
                raise ObservationError(f"model input {key!r} is missing; required: {sorted(want)}")
            got = tuple(inputs[key].shape[1:])
            if got != tail:
                raise ObservationError(
                    f"model input {key!r} has shape [B, {', '.join(map(str, got))}]; "
                    f"allowed: [B, {', '.join(map(str, tail))}]"
                )

    def run_stage(self, spec: StageSpec, state: BoundaryState) -> BoundaryState:
        kind = spec.kind
        if kind == "vision_patch":
            name = spec.name.split(".")[1]
            images = self._flat_images(state["images"])
            x, kp = self.towers[name].embed.embed_and_keypoints(images, state.get("tokens"))
            return {spec.writes[0]: x} | ({spec.writes[1]: kp} if kp is not None else {})
        if kind == "vision_block":
            name = spec.name.split(".")[1]
            return {spec.writes[0]: self.towers[name].blocks[spec.layer](state[spec.reads[0]])[0]}
        if kind == "projector":
            feats = {v.name: state[f"vision.{v.name}.x"] for v in self.shape.vision}
            kps = {v.name: state[f"vision.{v.name}.kp"] for v in self.shape.vision if v.keypoints}
            return {"prefix.vision": self.projector(feats, self.shape.cameras, kps)}
        if kind == "embed" and spec.name == "llm.embed":
            return {
                "llm.h": self._embed_prefix(
                    state["prefix.vision"], state["tokens"], state.get("proprio")
                )
            }
        if kind == "llm_layer" and spec.name.startswith("llm.prefill."):
            h = state["llm.h"]
            pos = self._positions(h.device)
            out_h, k, v = self.llm.layers[spec.layer](h, pos, self.prefill_mask(h.device))
            out = {"llm.h": out_h}
            if self.prefill_writes_kv:
                out[f"kv.{spec.layer}.k"] = k
                out[f"kv.{spec.layer}.v"] = v
            return out
        return self._run_head_stage(spec, state)

    def outputs(self, state: BoundaryState) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Monolithic action generation; same result as running ``stages()`` one by one."""
        raise NotImplementedError

    def loss(
        self,
        inputs: dict[str, Any],
        actions: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss on normalised target actions [B, chunk, action_dim]."""
        raise NotImplementedError


def denoising_stages(
    steps: int,
    layers: int,
    layer_module: str,
    out_module: str,
    reads: Callable[[int], tuple[str, ...]],
) -> list[StageSpec]:
    """The action expert's unrolled loop (pi0 flow steps, CogACT DDIM steps): per step, every expert
    layer (``layer_module.{i}``, reading ``reads(i)``) then the update of ``expert.x``."""
    out: list[StageSpec] = []
    for s in range(steps):
        for i in range(layers):
            out.append(
                StageSpec(
                    f"expert.s{s}.layer{i}",
                    "expert_layer",
                    f"{layer_module}.{i}",
                    reads(i),
                    ("expert.h",),
                    step=s,
                    layer=i,
                )
            )
        out.append(
            StageSpec(
                f"expert.s{s}.out",
                "expert_out",
                out_module,
                ("expert.h", "expert.x"),
                ("expert.x",),
                step=s,
            )
        )
    return out


def expect_noise(model: StagedVLA, inputs: dict[str, Any]) -> torch.Tensor:
    """The initial noise of flow/diffusion heads: ``inputs['noise']`` or seeded from ``inputs['seed']``."""
    s = model.shape
    b = inputs["images"].shape[0]
    tail = (s.head.chunk, s.head.action_dim)
    if "noise" in inputs:
        noise = inputs["noise"]
        if tuple(noise.shape[1:]) != tail:
            raise ObservationError(
                f"model input 'noise' has shape {tuple(noise.shape)}; allowed: [B, {tail[0]}, {tail[1]}]"
            )
        return noise
    gen = torch.Generator().manual_seed(int(inputs.get("seed", 0)))
    return torch.randn(b, *tail, generator=gen).to(inputs["images"].device)


def rtc_guidance_weight(t: float, max_guidance_weight: float) -> float:
    """Real-Time Chunking's guidance weight at flow time ``t`` (pi0 convention: 1 noise, 0 data).

    Black et al. 2025 (arXiv 2506.07339), with tau = 1 - t: ``(1 - tau) / tau * (tau^2 +
    (1 - tau)^2) / (1 - tau)^2``, clipped at ``max_guidance_weight`` (LeRobot's RTC: 10); the
    clip also stands in at tau = 0 and tau = 1, where the formula is infinite.
    """
    tau = 1.0 - t
    if tau <= 0.0 or tau >= 1.0:
        return float(max_guidance_weight)
    w = (tau * tau + (1.0 - tau) ** 2) / (tau * (1.0 - tau))
    return float(min(w, max_guidance_weight))


def guidance_correction(
    x: torch.Tensor, x0_of: Any, target: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The inpainting correction ``J^T (W * (target - x0(x)))`` at ``x`` and the model output.

    ``x0_of(x) -> (x0, out)``: the clean-chunk estimate and the head's raw output (velocity or
    epsilon). ``weights`` [chunk] is the soft mask (1 frozen, decaying over the overlap, 0 after).
    The vector-Jacobian product is one backward pass through the head (the prefix is constant).
    """
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        x0, out = x0_of(xg)
        err = (target - x0) * weights[None, :, None]
        (corr,) = torch.autograd.grad(x0, xg, err.detach())
    return corr.detach(), out.detach()
