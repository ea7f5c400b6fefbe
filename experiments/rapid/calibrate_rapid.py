"""Calibrate RAPID's dual thresholds on scripted-expert kinematic streams (a Hydra tool).

    python -m experiments.tool tool=rapid_calibrate suite=object episodes=5

The bisection is ``ecc.schedulers.rapid_calibration``'s: ``high`` so that the trigger, replayed over
the expert streams with an instant chunk queue of ``chunk_len`` actions, leaves
``target_redundancy`` of all control steps redundant (the paper reports 81-86%);
``low = low_ratio * high``. Writes a Hydra scheduler config (``rapid_calibrated.yaml``) and a JSON
report with the importance distribution per task category. Old flags: --foo-bar V -> foo_bar=V,
--write-conf F -> write_conf=F, --no-progress -> progress=false (conf/tool/rapid_calibrate.yaml).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ecc.schedulers import (
    ThresholdCalibration,
    TriggerParams,
    calibrate_thresholds,
    importance_values,
    pooled_redundancy,
)
from experiments.rapid.kinematics import collect_expert_episodes
from experiments.rapid.reporting import SETTING_NOTES, quantiles, write_record


def scheduler_yaml(calib: ThresholdCalibration, params: TriggerParams, meta: dict[str, Any]) -> str:
    """A Hydra ``scheduler`` group file for the calibrated trigger."""
    lines = [
        "# RAPID kinematic trigger, thresholds calibrated by experiments.rapid.calibrate_rapid",
        (
            f"# on {meta['suite']} x {meta['episodes']} scripted-expert episodes per task "
            f"(target redundancy {meta['target_redundancy']:.3f} with chunk {meta['chunk_len']}; "
            f"achieved {calib.achieved_redundancy:.4f})."
        ),
        "# The paper publishes none of these values; see docs/rapid.md.",
        "_target_: ecc.schedulers.RapidTrigger",
        f"window: {params.window}            # control steps in the sliding anomaly window",
        (
            f"high: {calib.high:.4f}        # importance entering the critical phase "
            f"(p{calib.high_percentile:.1f} of expert steps)"
        ),
        f"low: {calib.low:.4f}         # importance leaving it",
        f"cooldown: {params.cooldown}           # control steps between two preemptions",
        f"speed_ref: {params.speed_ref}        # rad/s",
        f"speed_scale: {params.speed_scale}      # rad/s",
        f"physics_dt_s: {params.physics_dt_s}   # 500 Hz physics history",
        f"warmup: {params.warmup}",
        f"target: {params.target}",
    ]
    return "\n".join(lines) + "\n"


def run(cfg: DictConfig) -> float:
    """Collect expert streams, bisect the thresholds, write the YAML and the JSON report."""
    params = TriggerParams(**OmegaConf.to_container(cfg.trigger, resolve=True))
    episodes = collect_expert_episodes(
        cfg.suite, cfg.tasks, cfg.episodes, cfg.seed, cfg.max_episode_steps, cfg.progress
    )
    streams = [ep.infos for ep in episodes]
    calib, history = calibrate_thresholds(
        streams, params, cfg.target_redundancy, cfg.chunk_len, cfg.low_ratio, cfg.iterations
    )
    by_category: dict[str, Any] = {}
    for c in sorted({ep.category for ep in episodes}):
        sub = [ep.infos for ep in episodes if ep.category == c]
        by_category[c] = {
            "importance": quantiles(importance_values(sub, params)),
            "redundancy": pooled_redundancy(
                sub, params.trigger(calib.high, calib.low), cfg.chunk_len
            ),
            "episodes": len(sub),
        }
    config = OmegaConf.to_container(cfg, resolve=True)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    text = scheduler_yaml(calib, params, config)
    (out / "rapid_calibrated.yaml").write_text(text)
    if cfg.write_conf is not None:
        Path(cfg.write_conf).write_text(text)
    results = {
        "calibration": asdict(calib),
        "trigger_params": asdict(params),
        "importance": quantiles(
            importance_values(streams, params), (10, 25, 50, 75, 80, 90, 95, 97.5, 99, 99.5)
        ),
        "by_task_category": by_category,
        "expert_success": float(np.mean([ep.success for ep in episodes])),
        "steps": int(sum(ep.steps for ep in episodes)),
        "search": history,
    }
    notes = [SETTING_NOTES["expert"], SETTING_NOTES["thresholds"]]
    write_record(out / "calibration.json", config, results, notes)
    print(
        f"high={calib.high:.4f} low={calib.low:.4f} (p{calib.high_percentile:.1f} of importance); "
        f"redundancy {calib.achieved_redundancy:.4f} (target {cfg.target_redundancy}, chunk replay "
        f"alone {calib.max_redundancy:.4f}) over {results['steps']} steps, "
        f"expert success {results['expert_success']:.2f}"
    )
    print(f"wrote {out / 'rapid_calibrated.yaml'} and {out / 'calibration.json'}")
    return float(calib.high)


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("tool", "rapid_calibrate")
