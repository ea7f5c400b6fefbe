"""Visual-noise study: does a trigger's cloud use grow with noise that does not make the task harder?

    python -m experiments.study study=rapid_noise budget=quick   # 2 tasks x 1 init state
    python -m experiments.rapid.noise_study checkpoint=DIR episodes=3 perturbations=[standard,visual_noise]

Fields and old flags: conf/study/rapid_noise.yaml and conf/rapid/study.yaml; each (arm, perturbation)
is one main-job run under OUT/runs/<perturbation>/<arm>/ (``experiments.rapid.study``).

Every arm (scheduler) x perturbation (standard, visual_noise, interference), realtime world time,
OpenVLA-7B latency modeled on Orin + A100. Per cell: latency per control step (mean and p95 over
episodes, ms), per-inference latency, cloud calls per episode and per 100 steps, edge memory (GiB),
success with a Wilson 95% interval. Headline: the change of cloud calls per 100 steps from standard
to visual_noise for RAPID (kinematic, should not move) beside the entropy trigger's (vision-based).
The paper: an entropy trigger's latency grows 395.4 -> 520.6 -> 685.3 ms.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from experiments.figures import pyplot, save_figure
from experiments.rapid.arms import LABELS
from experiments.rapid.errors import RapidExperimentError
from experiments.rapid.reporting import write_record
from experiments.rapid.study import aggregate, prepare, run_arm, save_episodes, study_record
from experiments.tables import write_table

log = logging.getLogger(__name__)

PERTURBATIONS: tuple[str, ...] = ("standard", "visual_noise", "interference")
# RAPID paper: vision-entropy trigger latency (ms) per perturbation.
PAPER_ENTROPY_MS: dict[str, float] = {
    "standard": 395.4,
    "visual_noise": 520.6,
    "interference": 685.3,
}

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


def run(cfg: DictConfig) -> list[dict[str, Any]]:
    """Every arm x perturbation as one main-job run; the table into ``cfg.out``."""
    out = Path(cfg.out)
    for p in cfg.perturbations:
        if p not in PERTURBATIONS:
            raise RapidExperimentError("perturbations", p, list(PERTURBATIONS))
    label, arms, calib, notes = prepare(cfg)
    rows, episodes = [], []
    for pert in cfg.perturbations:
        for name, overrides in arms.items():
            eps = run_arm(cfg, name, overrides, pert)
            episodes += eps
            row = {"method": LABELS[name], "arm": name, "perturbation": pert, **aggregate(eps)}
            if name == "entropy":
                row["paper_entropy_ms"] = PAPER_ENTROPY_MS[pert]
            rows.append(row)
    change = {
        name: {
            f"standard->{q}": cloud_rate_change(rows, name, "standard", q)
            for q in cfg.perturbations
            if q != "standard"
        }
        for name in arms
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
    title = (
        f"Noise study (policy: {label}; OpenVLA-7B modeled, {cfg.edge}+{cfg.cloud}, {cfg.network})"
    )
    md, _ = write_table(out, "noise_study", rows, COLUMNS, title=title, notes=notes)
    png = plot(rows, out / "noise_study.png", title)
    save_episodes(out / "episodes.jsonl", episodes)
    write_record(
        out / "noise_study.json",
        study_record(cfg, label, calib),
        {"rows": rows, "cloud_rate_change_pct": change, "rapid_vs_baselines": comparison},
        notes,
    )
    print(md.read_text())
    print(f"wrote {out}/noise_study.md, .csv, .json, {png.name}, episodes.jsonl")
    return rows


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("study", "rapid_noise")
