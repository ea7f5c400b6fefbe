"""Wrap a policy with a precision controller (composition, as openpi's chunk broker wraps).

``PrecisionControlledPolicy(policy, controller)`` has the policy interface of
``agents.policy.VLAPolicy`` (``reset``, ``predict_action_chunk``, ``select_action``):
every inference runs at ``controller.bits`` (the controller sets the QuantLinear layers
it is bound to), every executed action is fed back to the controller, and the chunk's
``info`` records the precision used. Works with any object exposing those methods.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantization.apply import quantize_model
from quantization.controller import PrecisionController, make_precision_controller
from quantization.memory import model_memory_bytes
from quantization.precision import ecc_precision_map, precision_map


class PrecisionControlledPolicy:
    """A policy whose activation precision is chosen per inference by ``controller``."""

    def __init__(
        self, policy: Any, controller: PrecisionController, n_action_steps: int | None = None
    ):
        self.policy = policy
        self.controller = controller
        self.n_action_steps = n_action_steps
        self._queue: collections.deque[np.ndarray] = collections.deque()

    def reset(self, language: str | None = None) -> None:
        """Start an episode for the policy and the controller."""
        self._queue.clear()
        self.policy.reset(language)
        self.controller.reset()

    def predict_action_chunk(self, obs: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        """One inference at the controller's current bits; ``info["act_bits"]`` records them."""
        bits = self.controller.bits
        chunk, info = self.policy.predict_action_chunk(obs)
        info = dict(info)
        info["act_bits"] = bits
        return chunk, info

    def observe_executed(self, action: np.ndarray) -> int:
        """Feed one executed action to the controller; returns the next inference's bits."""
        return self.controller.update(np.asarray(action))

    def select_action(self, obs: dict[str, Any]) -> np.ndarray:
        """Next action (7,), replaying the chunk; each returned action counts as executed."""
        if not self._queue:
            chunk, _ = self.predict_action_chunk(obs)
            n = self.n_action_steps or len(chunk)
            self._queue.extend(chunk[:n])
        action = self._queue.popleft()
        self.observe_executed(action)
        return action

    def histogram(self) -> dict[int, float]:
        """Fraction of this episode's decisions at each precision."""
        return self.controller.histogram()


@dataclass
class QuantizedPolicy:
    """A chunk policy put behind a method's precision controller, and what a runtime needs of it.

    ``stage_precision(stages)`` gives the per-stage precision names (``ecc.cost``'s ``precision``
    argument) of the next inference for any trace's stages, at the controller's current bits;
    None when the method is ``none``. ``summary`` goes to results.json (``acting_model_bytes``:
    bytes of the quantized acting model).
    """

    policy: Any
    summary: dict[str, Any]
    stage_precision: Callable[[Any], dict[str, str]] | None = None


def quantize_policy(
    method_cfg: Any, policy: Any, model: Any, calibration: Any = None
) -> QuantizedPolicy:
    """Quantize ``model`` (the acting ``policy``'s) in place per ``method_cfg``; wrap ``policy``.

    ``calibration``: the method's calibration data (SmoothQuant / QVLA; None for the others).
    """
    if method_cfg is None or method_cfg.get("name", "none") == "none":
        return QuantizedPolicy(policy, {"name": "none"})
    quantize_model(model, method_cfg, calibration)
    controller = make_precision_controller(method_cfg, model)
    wrapped = PrecisionControlledPolicy(policy, controller)
    wrapped.shape = policy.shape  # the runtime and the cost model read the acting shape
    pmap = precision_map(method_cfg)
    summary = {
        "name": method_cfg.name,
        "acting_model_bytes": int(model_memory_bytes(model, method_cfg).total),
    }
    return QuantizedPolicy(
        wrapped, summary, lambda stages: ecc_precision_map(stages, pmap, controller.bits)
    )
