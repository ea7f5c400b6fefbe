"""A tiny VLA with seeded random weights, tokenizer and stats: the policy the unit tests act with."""

from __future__ import annotations

import numpy as np
import torch

from agents.normalize import NormStats
from agents.policy import PolicyConfig, VLAPolicy
from agents.tokenizer import WordTokenizer
from agents.zoo import build_model, text_vocab_size


def random_policy(
    name: str, instructions: list[str], config: PolicyConfig | None = None
) -> VLAPolicy:
    """``name``'s zoo shape, weights N(0, 0.05) from seed 0, a tokenizer over ``instructions``,
    normalisation stats of seeded uniform actions (7) and normal proprio (9)."""
    torch.manual_seed(0)
    model = build_model(name)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    tok = WordTokenizer.build(instructions, capacity=text_vocab_size(model.shape))
    rng = np.random.default_rng(1)
    stats = NormStats.from_data(rng.uniform(-0.5, 0.5, (100, 7)), rng.normal(size=(100, 9)))
    return VLAPolicy(model, tok, stats, config or PolicyConfig())
