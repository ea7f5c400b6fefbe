"""pi0-style family: VLM prefix -> action expert integrating a flow-matching field.

Prefix attention is bidirectional (prefix-LM, as pi0). The expert has as many layers as
the VLM and the same KV layout (``kv_heads``, ``head_dim``): expert layer ``i`` attends
to the prefix keys/values of VLM layer ``i`` (``kv.{i}.k/v``) plus its own suffix.
Suffix tokens: ``[state (proprio, if any), chunk action tokens]``; the state token
sees the prefix and itself, action tokens see everything (pi0's block mask).

Flow convention (pi0): x_t = t * noise + (1 - t) * actions, target u = noise - actions;
inference integrates with Euler from t = 1 to 0 in ``head.steps`` steps (dt = -1/N).
Stage ``expert.s{s}.layer0`` also embeds the suffix (action/time MLP, state
projection); ``expert.s{s}.out`` applies the final norm, the output projection and the
Euler update. Differences from Gemma kept out for simplicity: no sqrt(hidden)
embedding scale, RMSNorm weight not offset by 1 (parameter counts are unaffected).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from agents.errors import ShapeConfigError
from agents.layers import Block, BlockConfig, make_norm, sinusoidal
from agents.models.base import (
    StagedVLA,
    denoising_stages,
    expect_noise,
    guidance_correction,
    rtc_guidance_weight,
)
from agents.shapes import VLAShape
from agents.staged import BoundaryState, StageSpec


class FlowExpert(nn.Module):
    """The action expert: suffix embedding, decoder layers, output projection."""

    def __init__(self, shape: VLAShape, device: torch.device | None = None) -> None:
        super().__init__()
        e = shape.head.expert
        a = shape.head.action_dim
        w = e.hidden
        self.layers = nn.ModuleList(
            Block(BlockConfig.from_decoder(e), device) for _ in range(e.layers)
        )
        self.norm = make_norm(e.norm, w, device)
        self.action_in = nn.Linear(a, w, device=device)
        self.time_in = nn.Linear(2 * w, w, device=device)
        self.time_out = nn.Linear(w, w, device=device)
        if shape.proprio_dim:
            self.state_in = nn.Linear(shape.proprio_dim, w, device=device)
        self.out = nn.Linear(w, a, device=device)

    def embed(self, x: torch.Tensor, t: torch.Tensor, proprio: torch.Tensor | None) -> torch.Tensor:
        """x [B, chunk, A] at flow time t [B] -> suffix tokens [B, state? + chunk, W]."""
        w = self.time_out.out_features
        a = self.action_in(x)
        te = sinusoidal(t * 1000.0, w).to(a.dtype)[:, None, :].expand(-1, a.shape[1], -1)
        a = self.time_out(F.silu(self.time_in(torch.cat([a, te], dim=-1))))
        if hasattr(self, "state_in"):
            a = torch.cat([self.state_in(proprio)[:, None, :], a], dim=1)
        return a


class Pi0Model(StagedVLA):
    """VLM + flow-matching action expert (pi0 layout)."""

    family = "pi0"
    prefill_writes_kv = True

    def __init__(self, shape: VLAShape, device: torch.device | None = None) -> None:
        super().__init__(shape, device)
        e, d = shape.head.expert, shape.llm
        if e is None:
            raise ShapeConfigError(
                "head.expert=None is not allowed for pi0; allowed: a DecoderShape"
            )
        for field in ("layers", "kv_heads", "head_dim"):
            if getattr(e, field) != getattr(d, field):
                raise ShapeConfigError(
                    f"head.expert.{field}={getattr(e, field)!r} must equal llm.{field}="
                    f"{getattr(d, field)!r} (the expert attends to each VLM layer's KV)"
                )
        self.expert = FlowExpert(shape, device)

    def prefill_mask(self, device: torch.device) -> None:
        return None  # bidirectional prefix

    def _suffix_mask(self, device: torch.device) -> torch.Tensor:
        p, n = self.shape.prefix_tokens, self.shape.expert_tokens
        mask = torch.ones(n, p + n, dtype=torch.bool, device=device)
        if self.shape.proprio_dim:
            mask[0, p + 1 :] = False  # the state token does not see the noisy actions
        return mask

    def _suffix_pos(self, device: torch.device) -> torch.Tensor:
        p = self.shape.prefix_tokens
        return torch.arange(p, p + self.shape.expert_tokens, device=device)

    def _time(self, step: int) -> float:
        return 1.0 - step / self.shape.head.steps

    def _head_stages(self) -> list[StageSpec]:
        pro = ("proprio",) if self.shape.proprio_dim else ()

        def reads(i: int) -> tuple[str, ...]:
            kv = (f"kv.{i}.k", f"kv.{i}.v")  # the expert attends to the prefix's layer-i cache
            return ("expert.x", *pro, *kv) if i == 0 else ("expert.h", *kv)

        return denoising_stages(
            self.shape.head.steps, self.shape.llm.layers, "expert.layers", "expert.out", reads
        )

    def init_state(self, inputs: dict[str, Any]) -> BoundaryState:
        state = super().init_state(inputs)
        state["expert.x"] = expect_noise(self, inputs)
        return state

    def _layer(self, i: int, h: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.expert.layers[i](
            h, self._suffix_pos(h.device), self._suffix_mask(h.device), k, v
        )[0]

    def _velocity(self, h: torch.Tensor) -> torch.Tensor:
        return self.expert.out(self.expert.norm(h[:, -self.shape.head.chunk :]))

    def _run_head_stage(self, spec: StageSpec, state: BoundaryState) -> BoundaryState:
        i = spec.layer
        if spec.kind == "expert_layer":
            if i == 0:
                x = state["expert.x"]
                t = torch.full((x.shape[0],), self._time(spec.step), device=x.device)
                h = self.expert.embed(x, t, state.get("proprio"))
            else:
                h = state["expert.h"]
            return {"expert.h": self._layer(i, h, state[f"kv.{i}.k"], state[f"kv.{i}.v"])}
        if spec.kind == "expert_out":
            dt = -1.0 / self.shape.head.steps
            return {"expert.x": state["expert.x"] + dt * self._velocity(state["expert.h"])}
        raise KeyError(spec.name)

    def outputs(self, state: BoundaryState) -> dict[str, torch.Tensor]:
        return {"actions": state["expert.x"]}

    def _expert_forward(
        self, x: torch.Tensor, t: torch.Tensor, proprio: torch.Tensor | None, kvs: list
    ) -> torch.Tensor:
        h = self.expert.embed(x, t, proprio)
        for i in range(len(self.expert.layers)):
            h = self._layer(i, h, *kvs[i])
        return self._velocity(h)

    def forward(self, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        self.check_inputs(inputs)
        _, kvs = self.prefix_forward(inputs)
        x = expect_noise(self, inputs)
        dt = -1.0 / self.shape.head.steps
        for s in range(self.shape.head.steps):
            t = torch.full((x.shape[0],), self._time(s), device=x.device)
            x = x + dt * self._expert_forward(x, t, inputs.get("proprio"), kvs)
        return {"actions": x}

    def guided_forward(
        self,
        inputs: dict[str, Any],
        target: torch.Tensor,
        weights: torch.Tensor,
        max_guidance_weight: float = 10.0,
    ) -> dict[str, torch.Tensor]:
        """Real-Time Chunking: the chunk inpainted on ``target`` [B, chunk, A] (normalised).

        Each Euler step corrects the velocity by the guidance weight times the vector-Jacobian
        product of the clean-chunk estimate ``x - t * v`` with the masked error (Black et al. 2025;
        no retraining). ``weights`` [chunk]: the soft mask. ``forward`` is untouched, so unguided
        actions are bit-identical to the checkpoint's.
        """
        self.check_inputs(inputs)
        with torch.no_grad():
            _, kvs = self.prefix_forward(inputs)
        x = expect_noise(self, inputs)
        dt = -1.0 / self.shape.head.steps
        for s in range(self.shape.head.steps):
            tv = self._time(s)
            t = torch.full((x.shape[0],), tv, device=x.device)

            def x0_of(xg: torch.Tensor, t: torch.Tensor = t, tv: float = tv) -> tuple:
                v = self._expert_forward(xg, t, inputs.get("proprio"), kvs)
                return xg - tv * v, v

            corr, v = guidance_correction(x, x0_of, target, weights)
            w = rtc_guidance_weight(tv, max_guidance_weight)
            with torch.no_grad():
                x = x + dt * (v - w * corr)
        return {"actions": x}

    def loss(
        self,
        inputs: dict[str, Any],
        actions: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Flow-matching MSE between the predicted velocity and noise - actions."""
        _, kvs = self.prefix_forward(inputs)
        b = actions.shape[0]
        noise = torch.randn(actions.shape, generator=generator).to(actions.device)
        t = torch.rand(b, generator=generator).to(actions.device) * 0.999 + 0.001
        xt = t[:, None, None] * noise + (1 - t[:, None, None]) * actions
        v = self._expert_forward(xt, t, inputs.get("proprio"), kvs)
        loss = F.mse_loss(v, noise - actions)
        return loss, {"loss": float(loss.detach())}
