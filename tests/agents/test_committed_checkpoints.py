"""The committed tiny checkpoints load into today's shapes and carry their measured success."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from agents.policy import load_policy

REPO = Path(__file__).resolve().parents[2]
COMMITTED = sorted(p for p in (REPO / "checkpoints" / "object").glob("*_tiny") if p.is_dir())


def test_at_least_the_default_policy_is_committed() -> None:
    assert "pi0_tiny" in [p.name for p in COMMITTED]


@pytest.mark.parametrize("ckpt", COMMITTED, ids=lambda p: p.name)
def test_committed_checkpoint_loads_and_is_the_policy_default(ckpt: Path) -> None:
    family = ckpt.name.removesuffix("_tiny")
    # A zoo change that breaks a committed checkpoint fails here, not in a researcher's run.
    policy = load_policy(ckpt, family=family)
    assert policy.shape.name == f"{family}-tiny"
    size = sum(f.stat().st_size for f in ckpt.iterdir())
    assert size <= 20 * 2**20  # the agents issue's per-checkpoint limit
    prov = json.loads((ckpt / "provenance.json").read_text())
    loop = prov["closed_loop"]
    assert loop["episodes"] == 500  # every object task x the 50 fixed init states
    assert loop["success_rate"] == pytest.approx(loop["successes"] / loop["episodes"])
    conf = yaml.safe_load((REPO / "conf" / "policy" / f"{family}_tiny.yaml").read_text())
    assert conf["checkpoint"] == f"checkpoints/object/{ckpt.name}"
