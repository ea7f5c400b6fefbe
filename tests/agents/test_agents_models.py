"""Family-specific numerics that the staged-equals-monolithic tests cannot see."""

from __future__ import annotations

import torch

from agents import zoo


def test_cogact_ddim_clips_the_x0_estimate_to_the_action_range() -> None:
    """At the first DDIM step sqrt(abar) is ~5e-4: an unclipped x0 would amplify eps error."""
    model = zoo.random_model("cogact-tiny")
    x = torch.zeros(1, 8, 7)
    eps = torch.full_like(x, 0.05)  # a small error: unclipped, x0 = -0.05 / sqrt(abar) ~ -100
    out = model._ddim(0, x, eps)
    ab_prev = model.abar[model.timesteps[1]]
    x0 = (out - (1 - ab_prev).sqrt() * eps) / ab_prev.sqrt()
    assert torch.allclose(x0, torch.full_like(x, -1.0), atol=1e-4)
