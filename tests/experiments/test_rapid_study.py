"""Modeled-deployment closed loop, Table III and the noise study (smoke sizes)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ecc.runtime.latency import InferenceTiming
from experiments.rapid.closed_loop import (
    DeploymentSpec,
    aggregate,
    build_deployment,
    summarize_episode,
)
from experiments.rapid.errors import RapidExperimentError


class _Runtime:
    def __init__(self, timings: list[InferenceTiming]) -> None:
        self.inferences = timings

    def episode_stats(self) -> dict:
        return {"preemptions": 1, "hold_steps": 3, "redundant_fraction": 0.75}


def test_summarize_episode_definitions() -> None:
    timings = [
        InferenceTiming(100.0, edge_ms=100.0),
        InferenceTiming(50.0, uplink_ms=10.0, cloud_ms=35.0, downlink_ms=5.0),
    ]
    rec = SimpleNamespace(suite="object", task="t", init_state=0, seed=0, success=True, steps=10)
    dep = SimpleNamespace(edge_memory_bytes=lambda: 2.0 * 2**30)
    e = summarize_episode("rapid", rec, _Runtime(timings), dep, "standard")
    assert e.per_step_ms == pytest.approx(15.0)
    assert e.edge_per_step_ms == pytest.approx(10.0)
    assert e.cloud_per_step_ms == pytest.approx(5.0)
    assert e.per_inference_ms == pytest.approx(75.0)
    assert e.cloud_calls == 1
    assert e.edge_memory_gib == pytest.approx(2.0)
    agg = aggregate([e, e])
    assert agg["success_pct"] == 100.0
    assert agg["success_ci_lo_pct"] < 100.0
    assert agg["cloud_calls_per_100_steps"] == pytest.approx(10.0)


def test_deployment_anchors_edge_only_and_cloud() -> None:
    edge = build_deployment(DeploymentSpec(jitter=False), "edge_only")
    t = edge.charge(0.0, 0.0)
    assert 700 < t.total_ms < 860  # RAPID's edge-only OpenVLA-7B: 782.5 ms
    assert edge.edge_memory_bytes() / 2**30 == pytest.approx(14.2, abs=0.3)
    cloud = edge.charge(0.0, 0.0, target="cloud")
    assert cloud.breakdown_ms["cloud_ms"] > 0
    assert cloud.breakdown_ms["edge_ms"] == 0
    with pytest.raises(RapidExperimentError, match="network"):
        build_deployment(DeploymentSpec(network="carrier_pigeon"), "edge_only")


def test_table3_smoke(tmp_path) -> None:
    from experiments.rapid.table3 import main

    rows = main(
        ["--suite", "goal", "--tasks", "turn_on_the_stove", "--episodes", "1",
         "--max-episode-steps", "12", "--image-size", "64", "--arms", "edge_only", "cloud_only",
         "rapid", "--out", str(tmp_path), "--no-progress"]
    )  # fmt: skip
    by = {r["arm"]: r for r in rows}
    assert by["edge_only"]["per_inference_ms"] == pytest.approx(781, abs=60)
    assert by["edge_only"]["steps_per_ep"] == 12  # the limit counts policy steps, not the waits
    assert by["edge_only"]["cloud_per_step_ms"] == 0.0
    assert by["cloud_only"]["edge_per_step_ms"] == 0.0
    assert by["cloud_only"]["edge_memory_gib"] == 0.0
    for r in rows:
        assert r["per_step_ms"] == pytest.approx(r["cloud_per_step_ms"] + r["edge_per_step_ms"])
    assert by["rapid"]["paper_total_ms"] == 222.9
    rec = json.loads((tmp_path / "table3.json").read_text())
    assert rec["config"]["policy"] == "untrained"
    assert any("UNTRAINED" in n for n in rec["notes"])
    assert "untrained" in (tmp_path / "table3.md").read_text()
    assert (tmp_path / "table3.png").stat().st_size > 0


@pytest.mark.slow
def test_noise_study_smoke(tmp_path) -> None:
    from experiments.rapid.noise_study import main

    rows = main(
        ["--suite", "goal", "--tasks", "turn_on_the_stove", "--episodes", "1",
         "--max-episode-steps", "12", "--image-size", "64", "--arms", "entropy", "rapid",
         "--perturbations", "standard", "visual_noise", "--out", str(tmp_path), "--no-progress"]
    )  # fmt: skip
    assert {(r["arm"], r["perturbation"]) for r in rows} == {
        (a, p) for a in ("entropy", "rapid") for p in ("standard", "visual_noise")
    }
    assert (tmp_path / "noise_study.png").stat().st_size > 1000
    rec = json.loads((tmp_path / "noise_study.json").read_text())
    assert "standard->visual_noise" in rec["results"]["cloud_rate_change_pct"]["rapid"]


def test_entropy_arm_uses_each_familys_own_uncertainty(tmp_path) -> None:
    from experiments.rapid.arms import SPREAD_SAMPLES, setup_entropy_arm
    from experiments.rapid.policies import acting_policy
    from experiments.rapid.table3 import main

    pi0, _ = acting_policy(None, "pi0-tiny")
    assert setup_entropy_arm(pi0, ["rapid"]) == "entropy"  # arm not asked for: nothing changes
    assert pi0.policy.config.spread_samples == 0
    assert setup_entropy_arm(pi0, ["entropy"]) == "sample_spread"
    assert pi0.policy.config.spread_samples == SPREAD_SAMPLES
    assert setup_entropy_arm(acting_policy(None, "openvla-tiny")[0], ["entropy"]) == "entropy"
    with pytest.raises(RapidExperimentError, match="policy family oft"):
        setup_entropy_arm(acting_policy(None, "oft-tiny")[0], ["entropy"])
    # A flow policy's entropy arm runs closed loop (it failed on a missing token_entropy before).
    rows = main(
        ["--suite", "goal", "--tasks", "turn_on_the_stove", "--episodes", "1", "--shape",
         "pi0-tiny", "--max-episode-steps", "12", "--image-size", "64", "--arms", "entropy",
         "--out", str(tmp_path), "--no-progress"]
    )  # fmt: skip
    assert rows[0]["arm"] == "entropy"
    assert rows[0]["steps_per_ep"] == 12


def test_failure_score_falls_back_to_all_episodes_when_a_checkpoint_never_succeeds(
    tmp_path,
) -> None:
    from argparse import Namespace

    from experiments.rapid.table3 import prepare

    a = Namespace(
        suite="object", tasks=["milk_in_basket"], max_tasks=1, checkpoint="checkpoints/object/pi0_tiny",
        shape=None, chunk=None, seed=0, failure_calibration=None, arms=["failure_score"],
        failure_episodes=1, image_size=64, max_episode_steps=20, no_progress=True,
        network="wifi", trigger_partition="roboecc",
    )  # fmt: skip
    _, label, _, calib, notes = prepare(a, tmp_path)
    assert label != "untrained"
    assert calib is not None
    assert (tmp_path / "failure_score.npz").is_file()
    assert any("fitted on ALL 1 calibration episodes" in n for n in notes)


def test_rapid_vs_baselines_compares_latency_and_success_under_one_perturbation() -> None:
    from experiments.rapid.noise_study import describe_comparison, rapid_vs_baselines

    def row(arm, pert, ms, succ):
        return {"arm": arm, "perturbation": pert, "per_step_ms": ms, "success_pct": succ,
                "success_ci_lo_pct": succ - 9.0, "success_ci_hi_pct": succ + 9.0}  # fmt: skip

    rows = [row("edge_only", "visual_noise", 50.2, 40.0), row("entropy", "visual_noise", 36.0, 35.0),
            row("rapid", "visual_noise", 34.9, 38.0), row("rapid", "standard", 10.0, 90.0)]  # fmt: skip
    cmp = rapid_vs_baselines(rows)
    assert cmp["rapid_lowest"] is True
    assert cmp["per_step_ms"] == {"edge_only": 50.2, "entropy": 36.0, "rapid": 34.9}
    assert cmp["success_diff_points"] == pytest.approx(-2.0)
    assert "-2.0 points" in describe_comparison(cmp)
    rows[1]["per_step_ms"] = 30.0  # the entropy arm is now faster: RAPID is not the lowest
    assert rapid_vs_baselines(rows)["rapid_lowest"] is False
    assert "RAPID lowest: NO" in describe_comparison(rapid_vs_baselines(rows))
    assert rapid_vs_baselines(rows, perturbation="interference") == {}
