"""Calibrate RAPID's dual thresholds on scripted-expert kinematic streams.

    python -m experiments.rapid.calibrate_rapid --suite object --episodes 5

The paper publishes no window, thresholds or cooldown. We fix the window, cooldown and speed
fusion (CLI fields), then choose ``high`` by bisection so that the trigger, replayed over the
expert streams with an instant chunk queue of ``--chunk-len`` actions, leaves ``--target-redundancy``
of all control steps redundant (the paper reports 81-86%). ``low = --low-ratio * high`` (hysteresis).
Writes a Hydra scheduler config (YAML) and a JSON report with the importance distribution.
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecc.schedulers import RapidTrigger
from experiments.rapid.errors import RapidExperimentError
from experiments.rapid.kinematics import KinematicEpisode, collect_expert_episodes, replay_trigger
from experiments.rapid.reporting import SETTING_NOTES, quantiles, write_record

log = logging.getLogger(__name__)


@dataclass
class TriggerParams:
    """RapidTrigger fields that calibration does not search (see ecc/schedulers/rapid.py for units)."""

    window: int = 20  # control steps
    cooldown: int = 5  # control steps
    speed_ref: float = 0.3  # rad/s
    speed_scale: float = 0.1  # rad/s
    warmup: int = 5  # control steps
    physics_dt_s: float = 0.002  # s (500 Hz)
    target: str = "cloud"  # critical replans go to the cloud (RAPID)

    def trigger(self, high: float, low: float) -> RapidTrigger:
        return RapidTrigger(high=high, low=low, **asdict(self))


@dataclass
class Calibration:
    high: float
    low: float
    achieved_redundancy: float
    max_redundancy: float  # with no critical phase at all (chunk replay alone)
    critical_step_share: float  # share of steps whose importance exceeds `high`
    high_percentile: float  # percentile of the pooled importance distribution at `high`


def pooled_redundancy(
    episodes: list[KinematicEpisode], trigger: RapidTrigger, chunk_len: int
) -> float:
    """Redundant steps / all steps over every episode (steps-weighted)."""
    red = total = 0.0
    for ep in episodes:
        r = replay_trigger(trigger, ep.infos, chunk_len)
        red += r.redundant_fraction * r.steps
        total += r.steps
    return red / total if total else float("nan")


def importance_values(episodes: list[KinematicEpisode], params: TriggerParams) -> np.ndarray:
    """Per-step fused importance over all episodes (steps after the warm-up only)."""
    observer = params.trigger(high=math.inf, low=math.inf)  # never critical: observe only
    vals: list[float] = []
    for ep in episodes:
        r = replay_trigger(observer, ep.infos, 1)
        vals += [t["importance"] for t in r.trace if t["step"] >= params.warmup]
    return np.asarray(vals, dtype=np.float64)


def calibrate(
    episodes: list[KinematicEpisode],
    params: TriggerParams,
    target_redundancy: float = 0.85,
    chunk_len: int = 8,
    low_ratio: float = 0.5,
    iterations: int = 20,
) -> tuple[Calibration, list[dict[str, float]]]:
    """Choose ``high`` (and ``low = low_ratio * high``) so the replayed redundancy hits the target."""
    if not 0.0 < target_redundancy < 1.0:
        raise RapidExperimentError("target_redundancy", target_redundancy, "a fraction in (0, 1)")
    if not 0.0 < low_ratio <= 1.0:
        raise RapidExperimentError("low_ratio", low_ratio, "a fraction in (0, 1]")
    if not episodes:
        raise RapidExperimentError("episodes", 0, "at least one kinematic episode")
    imp = importance_values(episodes, params)
    ceiling = pooled_redundancy(episodes, params.trigger(math.inf, math.inf), chunk_len)
    if target_redundancy >= ceiling:
        raise RapidExperimentError(
            "target_redundancy",
            target_redundancy,
            f"below {ceiling:.4f}, the redundancy of chunk replay alone with chunk_len={chunk_len}",
        )
    # Redundancy rises with `high` (fewer critical phases); bisect in log space between the
    # median importance and just above the maximum.
    lo, hi = max(float(np.percentile(imp, 50)), 1e-3), float(imp.max()) * 1.01 + 1e-3
    history: list[dict[str, float]] = []

    def at(h: float) -> float:
        r = pooled_redundancy(episodes, params.trigger(h, low_ratio * h), chunk_len)
        history.append({"high": h, "redundancy": r})
        return r

    if at(lo) >= target_redundancy:
        hi = lo  # even the median is enough; keep it (more triggers would be spent for nothing)
    for _ in range(iterations if hi > lo else 0):
        mid = math.sqrt(lo * hi)
        if at(mid) >= target_redundancy:
            hi = mid
        else:
            lo = mid
    high = hi
    achieved = at(high)
    calib = Calibration(
        high=high,
        low=low_ratio * high,
        achieved_redundancy=achieved,
        max_redundancy=ceiling,
        critical_step_share=float(np.mean(imp > high)),
        high_percentile=float(100.0 * np.mean(imp <= high)),
    )
    return calib, history


def scheduler_yaml(calib: Calibration, params: TriggerParams, meta: dict[str, Any]) -> str:
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--suite", default="object")
    p.add_argument("--tasks", nargs="*", default=None, help="default: every task of the suite")
    p.add_argument("--episodes", type=int, default=5, help="init states per task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-episode-steps", type=int, default=None)
    p.add_argument("--target-redundancy", type=float, default=0.85)
    p.add_argument("--chunk-len", type=int, default=8, help="actions per replayed chunk")
    p.add_argument("--low-ratio", type=float, default=0.5, help="low = low_ratio * high")
    p.add_argument("--iterations", type=int, default=20, help="bisection steps")
    for f, default in asdict(TriggerParams()).items():
        p.add_argument(f"--{f.replace('_', '-')}", type=type(default), default=default)
    p.add_argument("--out", type=Path, default=Path("outputs/rapid/calibration"))
    p.add_argument("--write-conf", type=Path, default=None, help="also write the YAML here")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Calibration:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    a = parse_args(argv)
    params = TriggerParams(**{f: getattr(a, f) for f in asdict(TriggerParams())})
    episodes = collect_expert_episodes(
        a.suite, a.tasks, a.episodes, a.seed, a.max_episode_steps, not a.no_progress
    )
    calib, history = calibrate(
        episodes, params, a.target_redundancy, a.chunk_len, a.low_ratio, a.iterations
    )
    imp = importance_values(episodes, params)
    by_type: dict[str, Any] = {}
    for t in sorted({ep.task_type for ep in episodes}):
        sub = [ep for ep in episodes if ep.task_type == t]
        by_type[t] = {
            "importance": quantiles(importance_values(sub, params)),
            "redundancy": pooled_redundancy(
                sub, params.trigger(calib.high, calib.low), a.chunk_len
            ),
            "episodes": len(sub),
        }
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
    meta = {**config, "episodes": a.episodes}
    a.out.mkdir(parents=True, exist_ok=True)
    text = scheduler_yaml(calib, params, meta)
    (a.out / "rapid_calibrated.yaml").write_text(text)
    if a.write_conf is not None:
        a.write_conf.write_text(text)
    results = {
        "calibration": asdict(calib),
        "trigger_params": asdict(params),
        "importance": quantiles(imp, (10, 25, 50, 75, 80, 90, 95, 97.5, 99, 99.5)),
        "by_task_type": by_type,
        "expert_success": float(np.mean([ep.success for ep in episodes])),
        "steps": int(sum(ep.steps for ep in episodes)),
        "search": history,
    }
    write_record(
        a.out / "calibration.json",
        config,
        results,
        [SETTING_NOTES["expert"], SETTING_NOTES["thresholds"]],
    )
    print(
        f"high={calib.high:.4f} low={calib.low:.4f} (p{calib.high_percentile:.1f} of importance); "
        f"redundancy {calib.achieved_redundancy:.4f} (target {a.target_redundancy}, chunk replay "
        f"alone {calib.max_redundancy:.4f}) over {results['steps']} steps, "
        f"expert success {results['expert_success']:.2f}"
    )
    print(f"wrote {a.out / 'rapid_calibrated.yaml'} and {a.out / 'calibration.json'}")
    return calib


if __name__ == "__main__":
    main()
