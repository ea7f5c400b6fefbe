"""Wrap a policy with a precision controller (composition, as openpi's chunk broker wraps).

``PrecisionControlledPolicy(policy, controller)`` has the policy interface of
``agents.policy.VLAPolicy`` (``reset``, ``predict_action_chunk``, ``select_action``):
every inference runs at ``controller.bits`` (the controller sets the QuantLinear layers
it is bound to), every executed action is fed back to the controller, and the chunk's
``info`` records the precision used. Works with any object exposing those methods.
"""

from __future__ import annotations

import collections
from typing import Any

import numpy as np

from quantization.controller import PrecisionController


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
