"""Visual-noise study: does a trigger's cloud use grow with noise that does not make the task harder?

    python -m experiments.rapid.noise_study --checkpoint DIR --suite object --episodes 3
    python -m experiments.rapid.noise_study --checkpoint DIR --quick   # or --full (as table3)

Every arm (scheduler) x perturbation (standard, visual_noise, interference), realtime world time,
OpenVLA-7B latency modeled on Orin + A100. Per cell: latency per control step (mean and p95 over
episodes, ms), per-inference latency, cloud calls per episode and per 100 steps, edge memory (GiB),
success with a Wilson 95% interval. Headline: the change of cloud calls per 100 steps from standard
to visual_noise for RAPID (kinematic, should not move) beside the entropy trigger's (vision-based).
The paper: an entropy trigger's latency grows 395.4 -> 520.6 -> 685.3 ms.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from experiments.figures import pyplot, save_figure
from experiments.modes import apply_mode
from experiments.rapid.arms import LABELS, build_arms, setup_entropy_arm
from experiments.rapid.closed_loop import aggregate, run_arm, save_episodes
from experiments.rapid.reporting import write_record
from experiments.rapid.scheduler_conf import describe
from experiments.rapid.table3 import PRESETS, add_common_args, prepare, spec_of
from experiments.tables import write_table

log = logging.getLogger(__name__)

PERTURBATIONS: tuple[str, ...] = ("standard", "visual_noise", "interference")
# RAPID paper: vision-entropy trigger latency (ms) per perturbation.
PAPER_ENTROPY_MS: dict[str, float] = {
    "standard": 395.4,
    "visual_noise": 520.6,
    "interference": 685.3,
}

# Three perturbations x every arm: quick mode plays one init state per task, not two.
NOISE_PRESETS: dict[str, dict[str, Any]] = {**PRESETS, "quick": {**PRESETS["quick"], "episodes": 1}}

COLUMNS = (
    "method",
    "perturbation",
    "per_step_ms",
    "per_step_ms_p95",
    "per_inference_ms",
    "cloud_calls_per_ep",
    "cloud_calls_per_100_steps",
    "edge_memory_gib",
    "success_pct",
    "success_ci_lo_pct",
    "success_ci_hi_pct",
    "paper_entropy_ms",
)


def cloud_rate_change(rows: list[dict[str, Any]], arm: str, a: str, b: str) -> float:
    """Relative change (%) of cloud calls per 100 steps of ``arm`` from perturbation a to b."""
    cell = {(r["arm"], r["perturbation"]): r for r in rows}
    if (arm, a) not in cell or (arm, b) not in cell:
        return float("nan")
    x, y = cell[(arm, a)]["cloud_calls_per_100_steps"], cell[(arm, b)]["cloud_calls_per_100_steps"]
    return float("nan") if x == 0 else 100.0 * (y - x) / x


def rapid_vs_baselines(
    rows: list[dict[str, Any]], perturbation: str = "visual_noise", reference: str = "edge_only"
) -> dict[str, Any]:
    """RAPID against every other arm under ``perturbation``: latency per step and success.

    Returns ``per_step_ms`` per arm, ``rapid_lowest`` (RAPID's per-step latency below every other
    arm's present), and the success difference (points) of RAPID minus ``reference`` (the
    every-step arm) with both Wilson intervals; empty when RAPID did not run under it.
    """
    cell = {r["arm"]: r for r in rows if r["perturbation"] == perturbation}
    if "rapid" not in cell:
        return {}
    out: dict[str, Any] = {
        "perturbation": perturbation,
        "per_step_ms": {a: r["per_step_ms"] for a, r in cell.items()},
        "rapid_lowest": all(
            cell["rapid"]["per_step_ms"] < r["per_step_ms"] for a, r in cell.items() if a != "rapid"
        ),
    }
    if reference in cell:
        out["reference"] = reference
        out["success_diff_points"] = cell["rapid"]["success_pct"] - cell[reference]["success_pct"]
        out["success_ci_pct"] = {
            a: [cell[a]["success_ci_lo_pct"], cell[a]["success_ci_hi_pct"]]
            for a in ("rapid", reference)
        }
    return out


def describe_comparison(cmp: dict[str, Any]) -> str:
    """One note line for ``rapid_vs_baselines``' result."""
    lat = ", ".join(f"{LABELS[a]} {v:.1f}" for a, v in cmp["per_step_ms"].items())
    line = (
        f"Under {cmp['perturbation']}, latency per control step (ms): {lat}; RAPID lowest: "
        f"{'yes' if cmp['rapid_lowest'] else 'NO'}."
    )
    if "success_diff_points" in cmp:
        ci = cmp["success_ci_pct"]
        line += (
            f" Success RAPID minus {LABELS[cmp['reference']]}: {cmp['success_diff_points']:+.1f} "
            f"points (Wilson 95%: RAPID [{ci['rapid'][0]:.1f}, {ci['rapid'][1]:.1f}], "
            f"{cmp['reference']} [{ci[cmp['reference']][0]:.1f}, {ci[cmp['reference']][1]:.1f}])."
        )
    return line


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    plt = pyplot()
    import numpy as np

    arms = list(dict.fromkeys(r["arm"] for r in rows))
    perts = list(dict.fromkeys(r["perturbation"] for r in rows))
    cell = {(r["arm"], r["perturbation"]): r for r in rows}
    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.8 / max(len(perts), 1)
    x = np.arange(len(arms))
    for k, pert in enumerate(perts):
        for j, key in enumerate(("per_step_ms", "cloud_calls_per_100_steps")):
            vals = [cell.get((a, pert), {}).get(key, np.nan) for a in arms]
            ax[j].bar(x + k * width, vals, width, label=pert)
    for j, lab in enumerate(("latency per control step (ms)", "cloud calls per 100 steps")):
        ax[j].set_xticks(x + width * (len(perts) - 1) / 2, [LABELS[a] for a in arms], rotation=30,
                         ha="right", fontsize=7)  # fmt: skip
        ax[j].set_ylabel(lab)
        ax[j].legend(fontsize=7)
    return save_figure(fig, path, title)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_common_args(p, NOISE_PRESETS)
    p.add_argument("--perturbations", nargs="+", default=list(PERTURBATIONS), choices=PERTURBATIONS)
    p.add_argument("--out", type=Path, default=Path("outputs/rapid/noise_study"))
    a = apply_mode(p.parse_args(argv), p, NOISE_PRESETS)
    policy, label, tasks, calib, notes = prepare(a, a.out)
    entropy_conf = setup_entropy_arm(policy, a.arms)
    arms = build_arms(
        a.arms, a.rapid_conf, calib, a.entropy_threshold, a.trigger_partition, entropy_conf
    )
    bar = None
    if not a.no_progress:
        from tqdm import tqdm

        total = len(arms) * len(a.perturbations) * len(tasks) * a.episodes
        bar = tqdm(total=total, desc="episodes", unit="ep", file=sys.stderr)
    rows, episodes = [], []
    for pert in a.perturbations:
        for arm in arms:
            eps = run_arm(
                arm, policy, spec_of(a), a.suite, tasks, a.episodes, pert, a.seed, a.image_size,
                a.max_episode_steps, progress=bar,
            )  # fmt: skip
            episodes += eps
            row = {
                "method": LABELS[arm.name],
                "arm": arm.name,
                "perturbation": pert,
                **aggregate(eps),
            }
            if arm.name == "entropy":
                row["paper_entropy_ms"] = PAPER_ENTROPY_MS[pert]
            rows.append(row)
    if bar is not None:
        bar.close()
    change = {
        arm.name: {
            f"standard->{q}": cloud_rate_change(rows, arm.name, "standard", q)
            for q in a.perturbations
            if q != "standard"
        }
        for arm in arms
    }
    cell = {(r["arm"], r["perturbation"]): r["cloud_calls_per_100_steps"] for r in rows}
    for name in ("rapid", "entropy"):
        if (name, "standard") in cell and (name, "visual_noise") in cell:
            notes.append(
                f"Cloud calls per 100 steps, standard -> visual_noise, {LABELS[name]}: "
                f"{cell[(name, 'standard')]:.2f} -> {cell[(name, 'visual_noise')]:.2f} "
                f"({change[name]['standard->visual_noise']:+.1f}%; NaN where the standard rate is 0)."
            )
    comparison = rapid_vs_baselines(rows)
    if comparison:
        notes.append(describe_comparison(comparison))
    notes.append("per_step_ms = total inference ms charged / control steps; p95 over episodes.")
    title = f"Noise study (policy: {label}; OpenVLA-7B modeled, {a.edge}+{a.cloud}, {a.network})"
    md, _ = write_table(a.out, "noise_study", rows, COLUMNS, title=title, notes=notes)
    png = plot(rows, a.out / "noise_study.png", title)
    save_episodes(a.out / "episodes.jsonl", episodes)
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()}
    config.update(policy=label, failure_calibration=calib, rapid_fields=describe(a.rapid_conf))
    write_record(
        a.out / "noise_study.json",
        config,
        {"rows": rows, "cloud_rate_change_pct": change, "rapid_vs_baselines": comparison},
        notes,
    )
    print(md.read_text())
    print(f"wrote {a.out}/noise_study.md, .csv, .json, {png.name}, episodes.jsonl")
    return rows


if __name__ == "__main__":
    main()
