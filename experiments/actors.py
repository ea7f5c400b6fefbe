"""Actors the main job can put in the loop (the ``policy`` group's ``_target_`` s)."""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.experts import ExpertConfig, ScriptedExpert


class ScriptedExpertActor:
    """The scripted expert. It reads PRIVILEGED simulator state, so its success is labelled as such.

    Keyword arguments are ``envs.experts.ExpertConfig`` fields (gains, heights, noise, ...).
    """

    privileged = True

    def __init__(self, **expert_config: Any) -> None:
        self.expert = ScriptedExpert(ExpertConfig(**expert_config))

    def reset(self, env: Any) -> None:
        self.expert.reset(getattr(env, "unwrapped", env))

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        return self.expert.act(obs)

    def episode_stats(self) -> dict[str, Any]:
        return {"actor": "scripted_expert", "privileged_state": True}
