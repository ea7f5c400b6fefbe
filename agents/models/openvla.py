"""OpenVLA-style family: VLM prefix -> autoregressive discrete action tokens.

Actions in [-1, 1] are cut into ``bins`` (256) uniform bins; bin ``i`` is vocabulary
token ``vocab_size - bins + i`` (OpenVLA reuses the last 256 ids). Decoding is greedy
and *constrained* to the action-token slice (OpenVLA takes the argmax over the whole
vocabulary and clips; with an untrained tiny model that would return non-action ids).

Stage order per action generation with n = chunk * action_dim tokens:
prefill layers (write KV) -> ``llm.prefill.norm`` (final norm of the last position)
-> ``llm.decode.t0.head`` (LM head; first token comes from the prefill) -> for t in
1..n-1: ``llm.decode.t{t}.embed``, ``llm.decode.t{t}.layer{i}`` (reads/extends
``kv.{i}.k/v``), ``llm.decode.t{t}.head`` (final norm + LM head). So there are n heads
and n - 1 single-token decoder passes, as in HF ``generate``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from agents.models.base import StagedVLA
from agents.staged import BoundaryState, StageSpec


def bin_centers(bins: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Centres of ``bins`` uniform bins over [-1, 1]."""
    return -1.0 + (torch.arange(bins, dtype=torch.float32, device=device) + 0.5) * (2.0 / bins)


def discretize(actions: torch.Tensor, bins: int) -> torch.Tensor:
    """Normalised actions in [-1, 1] -> bin indices in [0, bins)."""
    idx = torch.floor((actions.clamp(-1.0, 1.0) + 1.0) * (bins / 2.0)).long()
    return idx.clamp(0, bins - 1)


class OpenVLAModel(StagedVLA):
    """Autoregressive action-token VLA (OpenVLA-7B layout)."""

    family = "openvla"
    prefill_writes_kv = True

    @property
    def n_action_tokens(self) -> int:
        return self.shape.head.chunk * self.shape.head.action_dim

    def _action_logits(self, full: torch.Tensor) -> torch.Tensor:
        return full[..., -self.shape.head.bins :]

    def _token_of_bin(self, b: torch.Tensor) -> torch.Tensor:
        return b + (self.shape.llm.vocab_size - self.shape.head.bins)

    def _head_stages(self) -> list[StageSpec]:
        n_layers = self.shape.llm.layers
        out = [StageSpec("llm.prefill.norm", "norm", "llm.norm", ("llm.h",), ("llm.out",))]
        head_module = "llm.lm_head" if not self.shape.llm.tie_embeddings else "embed.tokens"
        for t in range(self.n_action_tokens):
            if t > 0:
                out.append(
                    StageSpec(
                        f"llm.decode.t{t}.embed",
                        "embed",
                        "embed.tokens",
                        ("llm.token",),
                        ("llm.h",),
                        step=t,
                    )
                )
                for i in range(n_layers):
                    kv = (f"kv.{i}.k", f"kv.{i}.v")
                    out.append(
                        StageSpec(
                            f"llm.decode.t{t}.layer{i}",
                            "llm_layer",
                            f"llm.layers.{i}",
                            ("llm.h", *kv),
                            ("llm.h", *kv),
                            step=t,
                            layer=i,
                        )
                    )
            src = "llm.out" if t == 0 else "llm.h"
            out.append(
                StageSpec(
                    f"llm.decode.t{t}.head",
                    "lm_head",
                    head_module,
                    (src,),
                    ("llm.token", f"out.logits.t{t}"),
                    step=t,
                )
            )
        return out

    def _decode_position(self, t: int, device: torch.device) -> torch.Tensor:
        # A fill on the device, not a host tensor copied over: a pageable host-to-device copy
        # per decode layer stalls the host and cannot be captured in a CUDA graph.
        return torch.full((1,), self.shape.llm_tokens + t - 1, dtype=torch.long, device=device)

    def _head(self, x_normed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self._action_logits(self.lm_logits(x_normed[:, -1]))
        return logits, self._token_of_bin(logits.argmax(-1))

    def _run_head_stage(self, spec: StageSpec, state: BoundaryState) -> BoundaryState:
        if spec.kind == "norm":
            return {"llm.out": self.llm.norm(state["llm.h"][:, -1:])}
        if spec.kind == "embed":
            return {"llm.h": self.embed.tokens(state["llm.token"])[:, None, :]}
        if spec.kind == "llm_layer":
            i = spec.layer
            h = state["llm.h"]
            pos = self._decode_position(spec.step, h.device)
            h, k, v = self.llm.layers[i](h, pos, None, state[f"kv.{i}.k"], state[f"kv.{i}.v"])
            return {"llm.h": h, f"kv.{i}.k": k, f"kv.{i}.v": v}
        if spec.kind == "lm_head":
            x = state["llm.out"] if spec.step == 0 else self.llm.norm(state["llm.h"])
            logits, token = self._head(x)
            return {"llm.token": token, f"out.logits.t{spec.step}": logits}
        raise KeyError(spec.name)

    def _finish(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """logits [B, n, bins] -> actions, logits and per-token entropy (nats)."""
        s = self.shape
        centers = bin_centers(s.head.bins, logits.device)
        actions = centers[logits.argmax(-1)].view(logits.shape[0], s.head.chunk, s.head.action_dim)
        logp = F.log_softmax(logits, dim=-1)
        entropy = -(logp.exp() * logp).sum(-1)
        return {"actions": actions, "token_logits": logits, "token_entropy": entropy}

    def outputs(self, state: BoundaryState) -> dict[str, torch.Tensor]:
        logits = torch.stack(
            [state[f"out.logits.t{t}"] for t in range(self.n_action_tokens)], dim=1
        )
        return self._finish(logits)

    def forward(self, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        self.check_inputs(inputs)
        h, kvs = self.prefix_forward(inputs)
        all_logits = []
        logits, token = self._head(self.llm.norm(h[:, -1:]))
        all_logits.append(logits)
        for t in range(1, self.n_action_tokens):
            x = self.embed.tokens(token)[:, None, :]
            pos = self._decode_position(t, x.device)
            for i, layer in enumerate(self.llm.layers):
                x, k, v = layer(x, pos, None, *kvs[i])
                kvs[i] = (k, v)
            logits, token = self._head(self.llm.norm(x))
            all_logits.append(logits)
        return self._finish(torch.stack(all_logits, dim=1))

    def loss(
        self,
        inputs: dict[str, Any],
        actions: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Teacher-forced cross-entropy over the action-bin slice of the vocabulary."""
        s = self.shape
        b = actions.shape[0]
        bins = discretize(actions.reshape(b, -1), s.head.bins)  # [B, n]
        h = self._embed_prefix(self.vision_forward(inputs), inputs["tokens"], inputs.get("proprio"))
        prefix_len = h.shape[1]
        x = torch.cat([h, self.embed.tokens(self._token_of_bin(bins[:, :-1]))], dim=1)
        seq = x.shape[1]
        pos = torch.arange(seq, device=x.device)
        mask = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
        for layer in self.llm.layers:
            x = layer(x, pos, mask)[0]
        x = self.llm.norm(x[:, prefix_len - 1 :])
        logits = self._action_logits(self.lm_logits(x))
        loss = F.cross_entropy(logits.reshape(-1, s.head.bins), bins.reshape(-1))
        acc = (logits.argmax(-1) == bins).float().mean()
        return loss, {"loss": float(loss.detach()), "token_acc": float(acc)}
