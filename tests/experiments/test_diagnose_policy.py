"""Policy-vs-expert diagnostic: per-phase agreement along the policy's own trajectory."""

from __future__ import annotations

import math

import pytest

from experiments.diagnose_policy import diagnose, per_phase, pooled


def test_per_phase_and_pooling_arithmetic():
    rows = [("above", 1.0, 1.0, 0.0), ("above", 0.0, 0.0, 2.0), ("close", float("nan"), 1.0, 1.0)]
    ph = per_phase(rows)
    assert ph["above"] == {"steps": 2, "cos_xyz": 0.5, "grip_agree": 0.5, "l2_xyz": 1.0}
    assert math.isnan(ph["close"]["cos_xyz"])
    both = pooled([ph, {"above": {"steps": 2, "cos_xyz": -0.5, "grip_agree": 1.0, "l2_xyz": 0.0}}])
    assert both["above"]["steps"] == 4
    assert both["above"]["cos_xyz"] == pytest.approx(0.0)
    assert both["above"]["grip_agree"] == pytest.approx(0.75)


def test_diagnose_runs_a_checkpoint_with_the_expert_as_shadow(random_checkpoint):
    out = diagnose(str(random_checkpoint), ["milk_in_basket"], [0], max_steps=12, num_wait_steps=0)
    (ep,) = out["episodes"]
    assert ep["steps"] == 12
    assert sum(r["steps"] for r in ep["phases"].values()) == 12
    # the expert starts by moving above its target
    assert any(p.startswith("above") for p in ep["phases"])
    for r in out["pooled"].values():
        assert -1.0 <= r["cos_xyz"] <= 1.0 or math.isnan(r["cos_xyz"])
