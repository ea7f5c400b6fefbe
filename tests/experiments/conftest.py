"""Fixtures shared by the experiments tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import envs
from agents.normalize import NormStats
from agents.policy import VLAPolicy, save_checkpoint
from agents.tokenizer import WordTokenizer
from agents.zoo import build_model


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory) -> Path:
    """An untrained oft-tiny policy: enough to exercise the runtime, not to solve tasks."""
    torch.manual_seed(0)
    model = build_model("oft-tiny").eval()
    langs = [envs.get_task(s, t).language for s in envs.list_suites() for t in envs.list_tasks(s)]
    tok = WordTokenizer.build(langs, capacity=512)
    rng = np.random.default_rng(0)
    stats = NormStats.from_data(
        rng.uniform(-1, 1, (500, 7)).astype(np.float32),
        rng.normal(size=(500, 9)).astype(np.float32),
    )
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "oft", VLAPolicy(model, tok, stats))
