"""CogACT-style family: VLM cognition feature -> DiT head denoising an action chunk (DDIM).

The LLM sequence is ``[prefix, cognition token]`` (causal); the final-normed hidden
state of the cognition token is the cognition feature. The DiT uses in-context
conditioning as CogACT does: its tokens are ``[timestep token, cognition token,
chunk noisy-action tokens]`` + learned positions, through standard pre-LN blocks
(LayerNorm, biased attention, GELU MLP, no adaLN); the output layer reads the action
tokens and predicts the noise (epsilon). Schedule: squared-cosine betas over
``head.train_steps`` DDPM steps; inference runs ``head.steps`` deterministic DDIM
steps (eta = 0) without clipping x0 (CogACT samples with ``clip_denoised=False`` and
clips the final normalised actions, which ``NormStats.unnormalize_actions`` does).
No classifier-free guidance (CogACT uses CFG 1.5, which doubles the DiT batch).

``expert.s{s}.layer0`` includes the token embedding; ``expert.s{s}.out`` the output
layer and the DDIM update.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from agents.errors import ShapeConfigError
from agents.layers import Block, BlockConfig, sinusoidal
from agents.models.base import (
    StagedVLA,
    denoising_stages,
    expect_noise,
    guidance_correction,
    rtc_guidance_weight,
)
from agents.shapes import VLAShape
from agents.staged import BoundaryState, StageSpec

TIME_FREQ_DIM = 256  # DiT's timestep embedder input width


def cosine_alphas_cumprod(steps: int, max_beta: float = 0.999) -> torch.Tensor:
    """alpha-bar_t of the squared-cosine schedule (Nichol & Dhariwal), float64 [steps]."""

    def f(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [min(1 - f((i + 1) / steps) / f(i / steps), max_beta) for i in range(steps)]
    return torch.cumprod(1 - torch.tensor(betas, dtype=torch.float64), dim=0)


class DiTHead(nn.Module):
    """In-context-conditioned DiT over [time, cognition, actions] tokens."""

    def __init__(self, shape: VLAShape, device: torch.device | None = None) -> None:
        super().__init__()
        e = shape.head.expert
        w, a = e.hidden, shape.head.action_dim
        self.cond = nn.Linear(shape.llm.hidden, w, device=device)
        self.time = nn.Sequential(
            nn.Linear(TIME_FREQ_DIM, w, device=device), nn.SiLU(), nn.Linear(w, w, device=device)
        )
        self.x_in = nn.Linear(a, w, device=device)
        self.pos = nn.Parameter(torch.zeros(1, shape.head.chunk + 2, w, device=device))
        self.layers = nn.ModuleList(
            Block(BlockConfig.from_decoder(e), device) for _ in range(e.layers)
        )
        self.norm = nn.LayerNorm(w, eps=1e-6, device=device)
        self.out = nn.Linear(w, a, device=device)

    def embed(self, x: torch.Tensor, t: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        tt = self.time(sinusoidal(t, TIME_FREQ_DIM).to(x.dtype))[:, None]
        cc = self.cond(feature)[:, None]
        return torch.cat([tt, cc, self.x_in(x)], dim=1) + self.pos

    def eps(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(h[:, 2:]))


class CogACTModel(StagedVLA):
    """VLM cognition feature + DiT diffusion action head (CogACT layout)."""

    family = "cogact"

    def __init__(self, shape: VLAShape, device: torch.device | None = None) -> None:
        super().__init__(shape, device)
        e = shape.head.expert
        if e is None or e.rope:
            raise ShapeConfigError(
                f"head.expert={e!r} is not allowed for cogact; allowed: a DecoderShape with rope=False"
            )
        self.dit = DiTHead(shape, device)
        abar = cosine_alphas_cumprod(shape.head.train_steps)
        self.register_buffer("abar", abar.to(torch.float32), persistent=False)
        k, t_max = shape.head.steps, shape.head.train_steps
        self.timesteps = [round(t_max - 1 - j * (t_max - 1) / max(k - 1, 1)) for j in range(k)]

    def n_extra_tokens(self) -> int:
        return 1

    def _head_stages(self) -> list[StageSpec]:
        head = self.shape.head
        first = ("expert.x", "cog.feature")
        return [
            StageSpec("llm.prefill.norm", "norm", "llm.norm", ("llm.h",), ("cog.feature",)),
            *denoising_stages(
                head.steps, head.expert.layers, "dit.layers", "dit.out",
                lambda i: first if i == 0 else ("expert.h",),
            ),
        ]  # fmt: skip

    def init_state(self, inputs: dict[str, Any]) -> BoundaryState:
        state = super().init_state(inputs)
        state["expert.x"] = expect_noise(self, inputs)
        return state

    def _feature(self, h: torch.Tensor) -> torch.Tensor:
        return self.llm.norm(h[:, -1])

    def _embed_step(self, s: int, x: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        t = torch.full((x.shape[0],), float(self.timesteps[s]), device=x.device)
        return self.dit.embed(x, t, feature)

    def _ddim(self, s: int, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        ab = self.abar[self.timesteps[s]]
        ab_prev = (
            self.abar[self.timesteps[s + 1]] if s + 1 < len(self.timesteps) else torch.ones(())
        )
        # Clip the x0 estimate to the normalised action range (diffusers' clip_sample): at the
        # first step sqrt(abar) is ~5e-4, so an unclipped estimate amplifies eps error ~2000x.
        x0 = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1.0, 1.0)
        return ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps

    def _run_head_stage(self, spec: StageSpec, state: BoundaryState) -> BoundaryState:
        if spec.kind == "norm":
            return {"cog.feature": self._feature(state["llm.h"])}
        if spec.kind == "expert_layer":
            i = spec.layer
            h = (
                self._embed_step(spec.step, state["expert.x"], state["cog.feature"])
                if i == 0
                else state["expert.h"]
            )
            return {"expert.h": self.dit.layers[i](h)[0]}
        if spec.kind == "expert_out":
            return {
                "expert.x": self._ddim(
                    spec.step, state["expert.x"], self.dit.eps(state["expert.h"])
                )
            }
        raise KeyError(spec.name)

    def outputs(self, state: BoundaryState) -> dict[str, torch.Tensor]:
        return {"actions": state["expert.x"]}

    def _dit_eps(self, h: torch.Tensor) -> torch.Tensor:
        for layer in self.dit.layers:
            h = layer(h)[0]
        return self.dit.eps(h)

    def forward(self, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        self.check_inputs(inputs)
        h, _ = self.prefix_forward(inputs)
        feature = self._feature(h)
        x = expect_noise(self, inputs)
        for s in range(self.shape.head.steps):
            x = self._ddim(s, x, self._dit_eps(self._embed_step(s, x, feature)))
        return {"actions": x}

    def guided_forward(
        self,
        inputs: dict[str, Any],
        target: torch.Tensor,
        weights: torch.Tensor,
        max_guidance_weight: float = 10.0,
    ) -> dict[str, torch.Tensor]:
        """Real-Time Chunking for the DDIM head: the chunk inpainted on ``target`` (normalised).

        The diffusion analogue of the flow guidance: at each DDIM step the clipped x0 estimate
        is moved by ``w / steps * J_y^T (W * (target - x0))`` (y = x / sqrt(abar), so the step
        has the flow update's size) through epsilon, with ``w`` RTC's weight at the
        flow-equivalent time ``sqrt(1 - abar) / (sqrt(abar) + sqrt(1 - abar))``. An adaptation
        of ours, not the paper's (it states RTC for flow policies). ``forward`` is untouched (unguided actions unchanged).
        """
        self.check_inputs(inputs)
        with torch.no_grad():
            h, _ = self.prefix_forward(inputs)
            feature = self._feature(h)
        x = expect_noise(self, inputs)
        for s in range(self.shape.head.steps):
            ab = self.abar[self.timesteps[s]]

            def x0_of(xg: torch.Tensor, s: int = s, ab: torch.Tensor = ab) -> tuple:
                eps = self._dit_eps(self._embed_step(s, xg, feature))
                return ((xg - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1.0, 1.0), eps

            corr, eps = guidance_correction(x, x0_of, target, weights)
            sa, s1 = float(ab.sqrt()), float((1 - ab).sqrt())
            w = rtc_guidance_weight(s1 / (sa + s1), max_guidance_weight)
            # x0 moves by w / steps * J_y^T err, y = x / sqrt(abar) the data-scale variable (the
            # flow step's size); eps carries it: x0 = (x - s1 * eps) / sa.
            shift = (w / self.shape.head.steps) * sa * corr
            with torch.no_grad():
                x = self._ddim(s, x, eps - (sa / s1) * shift)
        return {"actions": x}

    def loss(
        self,
        inputs: dict[str, Any],
        actions: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Epsilon-prediction MSE at a uniformly drawn DDPM timestep."""
        h, _ = self.prefix_forward(inputs)
        feature = self._feature(h)
        b = actions.shape[0]
        noise = torch.randn(actions.shape, generator=generator).to(actions.device)
        t = torch.randint(0, self.shape.head.train_steps, (b,), generator=generator).to(
            actions.device
        )
        ab = self.abar[t][:, None, None]
        xt = ab.sqrt() * actions + (1 - ab).sqrt() * noise
        eps = self._dit_eps(self.dit.embed(xt, t.float(), feature))
        loss = F.mse_loss(eps, noise)
        return loss, {"loss": float(loss.detach())}
