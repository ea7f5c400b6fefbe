"""RAPID studies as main-job runs: arms as overrides, episode figures from the run, smoke sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecc.schedulers import EveryStep, FailureScoreTrigger, QueueThreshold, RapidTrigger
from experiments.apps import compose_app, compose_main, run_app
from experiments.rapid.arms import SPREAD_SAMPLES, arm_overrides
from experiments.rapid.errors import RapidExperimentError
from experiments.rapid.study import aggregate, episode_rows, main_overrides

SMOKE = ["suite=goal", "tasks=[turn_on_the_stove]", "episodes=1", "max_episode_steps=12"]


def _study(tmp_path, *extra: str):
    return compose_app("table", "rapid_table3", [*SMOKE, f"out={tmp_path}", *extra])


def _summary(per_step: float, cloud: float, inference_ms: list[float], calls: int) -> dict:
    return {"steps": 10, "inferences": len(inference_ms), "cloud_calls": calls, "preemptions": 1,
            "hold_steps": 3, "per_step_ms": per_step, "cloud_per_step_ms": cloud,
            "edge_per_step_ms": per_step - cloud, "per_inference_ms": float(np.mean(inference_ms)),
            "inference_ms": inference_ms, "redundant_fraction": 0.75,
            "edge_memory_bytes": 2.0 * 2**30}  # fmt: skip


def test_episode_rows_read_the_runs_episode_summary_and_aggregate(tmp_path) -> None:
    path = tmp_path / "episodes.jsonl"
    recs = [
        {"suite": "object", "task": "t", "init_state": k, "seed": k, "success": k == 0,
         "steps": 10, "extra": {"episode_summary": _summary(15.0, 5.0, [100.0, 50.0], 1)}}
        for k in range(2)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    rows = episode_rows(path, "rapid", "visual_noise")
    assert [r["init_state"] for r in rows] == [0, 1]
    assert rows[0]["edge_memory_gib"] == pytest.approx(2.0)
    assert rows[0]["perturbation"] == "visual_noise"
    agg = aggregate(rows)
    assert agg["per_step_ms"] == pytest.approx(15.0)
    assert agg["edge_per_step_ms"] == pytest.approx(10.0)
    assert agg["per_inference_ms"] == pytest.approx(75.0)  # pooled over all inferences
    assert agg["success_pct"] == 50.0
    assert 0.0 < agg["success_ci_lo_pct"] < 50.0 < agg["success_ci_hi_pct"] < 100.0
    assert agg["cloud_calls_per_100_steps"] == pytest.approx(10.0)
    assert agg["redundant_pct"] == pytest.approx(75.0)


def test_arms_are_overrides_that_compose_the_main_job(tmp_path) -> None:
    from hydra.utils import instantiate

    cfg = _study(tmp_path)
    base = main_overrides(cfg, "interference")
    kinds = {"edge_only": EveryStep, "chunk_replay": QueueThreshold, "rapid": RapidTrigger}
    for arm, kind in kinds.items():
        main = compose_main([*base, *arm_overrides(arm, "pi0")])
        assert isinstance(instantiate(main.scheduler), kind)
        assert main.runtime.mode == "realtime"
        assert main.runtime.episode_seeds is True
        assert main.env.perturbation == "interference"
    rapid = compose_main([*base, *arm_overrides("rapid", "pi0")])
    assert rapid.scheduler.target == "cloud"
    assert rapid.partition.planner._target_.endswith("EdgeOnlyPlanner")
    entropy = compose_main([*base, *arm_overrides("entropy", "pi0", entropy_threshold=0.3)])
    assert entropy.policy.spread_samples == SPREAD_SAMPLES  # a field, not a mutated policy
    assert entropy.scheduler.signal == "sample_spread"
    assert entropy.scheduler.threshold == 0.3
    assert compose_main([*base, *arm_overrides("entropy", "openvla")]).policy.spread_samples == 0
    with pytest.raises(RapidExperimentError, match="policy family oft"):
        arm_overrides("entropy", "oft")
    with pytest.raises(RapidExperimentError, match="failure_calibration"):
        arm_overrides("failure_score", "pi0")
    fs = compose_main([*base, *arm_overrides("failure_score", "pi0", failure_calibration="x.npz")])
    assert fs.policy.features is True
    assert fs.scheduler._target_.endswith(FailureScoreTrigger.__name__)


def test_modeled_deployment_anchors_and_per_episode_seeds(tmp_path) -> None:
    from experiments.compose_actor import build_latency_source

    base = main_overrides(_study(tmp_path), "standard")
    edge = build_latency_source(
        compose_main([*base, "partition=edge_only", "runtime.jitter=false"]), None
    )
    t = edge.charge(0.0, 0.0)
    assert 700 < t.total_ms < 860  # RAPID's edge-only OpenVLA-7B: 782.5 ms
    assert edge.edge_memory_bytes() / 2**30 == pytest.approx(14.2, abs=0.3)
    cloud = edge.charge(0.0, 0.0, target="cloud")
    assert cloud.cloud_ms > 0
    assert cloud.edge_ms == 0
    jitter = build_latency_source(
        compose_main([*base, "partition=edge_only", "runtime.seed=7"]), None
    )
    for k in range(3):  # episode k draws from seed + k (what the studies always did)
        jitter.reset()
        assert jitter.rng.random() == np.random.default_rng([7 + k, k + 1]).random()


def test_table3_smoke_runs_every_arm_through_the_main_job(tmp_path) -> None:
    rows = run_app(
        "table", "rapid_table3",
        [*SMOKE, "arms=[edge_only,cloud_only,rapid]", f"out={tmp_path}"],
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
    for arm in by:  # each arm is a main-job run directory
        assert (tmp_path / "runs" / "standard" / arm / "results.json").is_file()
    rec = json.loads((tmp_path / "table3.json").read_text())
    assert rec["config"]["policy_label"].startswith("trained:")
    assert rec["config"]["rapid_fields"]["_target_"] == "ecc.schedulers.RapidTrigger"
    assert (tmp_path / "table3.png").stat().st_size > 0


@pytest.mark.slow
def test_noise_study_smoke(tmp_path) -> None:
    rows = run_app(
        "study", "rapid_noise",
        [*SMOKE, "arms=[entropy,rapid]", "perturbations=[standard,visual_noise]", f"out={tmp_path}"],
    )  # fmt: skip
    assert {(r["arm"], r["perturbation"]) for r in rows} == {
        (a, p) for a in ("entropy", "rapid") for p in ("standard", "visual_noise")
    }
    assert rows[0]["steps_per_ep"] == 12  # a flow policy's entropy arm runs (sample spread)
    assert (tmp_path / "noise_study.png").stat().st_size > 1000
    rec = json.loads((tmp_path / "noise_study.json").read_text())
    assert "standard->visual_noise" in rec["results"]["cloud_rate_change_pct"]["rapid"]


def test_failure_score_falls_back_to_all_episodes_when_a_checkpoint_never_succeeds(
    tmp_path,
) -> None:
    from experiments.rapid.calibrate_failure_score import calibrate_inline

    cfg = compose_app(
        "table", "rapid_table3",
        ["suite=object", "tasks=[milk_in_basket]", "failure_episodes=1", "max_episode_steps=20",
         f"out={tmp_path}"],
    )  # fmt: skip
    calib, note = calibrate_inline(cfg)
    assert (tmp_path / "failure_score.npz").is_file()
    assert FailureScoreTrigger(calibration=calib).calibration.n > 1
    assert note is not None
    assert "fitted on ALL 1 calibration episodes" in note


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
