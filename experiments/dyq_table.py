"""DyQ-VLA Table I and ablation: success (Wilson 95%), modeled speedup and memory per method and suite.

    python -m experiments.table table=dyq budget=quick                   # object, 2 tasks x 5 init states
    python -m experiments.table table=dyq checkpoint=DIR budget=full     # 4 suites, every task x 50

Fields and presets: conf/table/dyq.yaml (the old flags map there: --quick -> budget=quick).
Without ``checkpoint`` the committed pi0-tiny acts; without a ``demos`` file SmoothQuant and
QVLA calibrate on a few scripted-expert demos collected into ``OUT/calibration_demos.hdf5``.

Closed loop: every (suite, method) is one main-job run (``experiments.run.evaluate`` on a config
composed with Hydra, the same code path as ``python -m experiments.run``) written to
``OUT/runs/<suite>/<method>/``. The tables are then read back from those run directories only:

- success with a Wilson 95% interval: the tiny acting policy (``--checkpoint``) quantized by each
  method, LIBERO-style blocking evaluation;
- modeled speedup: mean per-inference latency of OpenVLA-7B on an A100 80GB (``ecc`` cost model,
  edge-only) of the BF16 run over the method's run. Every inference is priced at the precision the
  method's controller chose for it (DyQ: its per-step activation bits), so DyQ's speedup follows
  its measured precision mix;
- memory: OpenVLA-7B weights on the ``meta`` device under the method's config
  (``quantization.model_memory_bytes``), beside the acting tiny model's quantized bytes.

The paper's numbers (DyQ-VLA, arXiv 2603.07904, Table I and ablation, as recorded in
research/papers.md) sit beside ours; the notes say what differs.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from omegaconf import DictConfig

from agents.policy import load_policy, read_checkpoint_config
from agents.zoo import build_model, get_shape
from core.provenance import REPO_ROOT, provenance
from ecc.cost import Partition, latency_breakdown
from ecc.hardware import load_profile
from ecc.network.link import link_preset
from ecc.trace import build_trace
from experiments.aggregate import (
    load_run,
    pooled_latency_means,
    precision_shares,
    success_block,
)
from experiments.apps import as_args, compose_main, run_app
from experiments.config_checks import ConfigError
from experiments.figures import pyplot, save_figure
from experiments.run import evaluate
from experiments.tables import markdown_table, write_csv
from quantization import ecc_precision_map, model_memory_bytes, precision_map
from quantization.methods import option_needs_calibration

log = logging.getLogger(__name__)

SUITES: tuple[str, ...] = ("goal", "object", "spatial", "long")
# The committed tiny policy (scripts/train_tiny_policies.sh): the default acting checkpoint.
DEFAULT_CHECKPOINT = REPO_ROOT / "checkpoints" / "object" / "pi0_tiny"
CALIBRATION_DEMOS_PER_TASK = 2  # collected when --demos is absent (a fresh clone has no data/)


@dataclass(frozen=True)
class Method:
    """One table row: a label and the main-job overrides that select it."""

    key: str
    label: str
    overrides: tuple[str, ...]


def needs_demos(method: Method) -> bool:
    """The row's quantization option names a method that calibrates (+calibration.demos)."""
    options = [o.split("=", 1)[1] for o in method.overrides if o.startswith("quantization=")]
    return any(option_needs_calibration(o) for o in options)


TABLE_METHODS: tuple[Method, ...] = (
    Method("bf16", "Full precision (BF16)", ("quantization=bf16",)),
    Method("smoothquant_w4a4", "SmoothQuant W4A4", ("quantization=smoothquant_w4a4",)),
    Method("qvla", "QVLA-style W4A4", ("quantization=qvla",)),
    Method("dyq", "DyQ-VLA (W4AX)", ("quantization=dyq",)),
)
# What conf/quantization/dyq.yaml lets us switch off. The paper's ablation adds system pieces
# (mixed-precision backend, async engine) that a cost model does not separate; ours removes the
# controller's parts instead.
ABLATION_METHODS: tuple[Method, ...] = (
    Method("w4a4", "static W4A4 (no dispatch)", ("quantization=w4a4",)),
    Method("dyq_no_hysteresis", "DyQ, no hysteresis (K=1)",
           ("quantization=dyq", "quantization.dyq.hysteresis_k=1")),
    Method("dyq_fineness_only", "DyQ, motion fineness only (lambda=1)",
           ("quantization=dyq", "quantization.dyq.lam=1.0")),
    Method("dyq_jerk_only", "DyQ, angular jerk only (lambda=0)",
           ("quantization=dyq", "quantization.dyq.lam=0.0")),
    Method("dyq", "DyQ-VLA (full)", ("quantization=dyq",)),
)  # fmt: skip

PAPER = "DyQ-VLA (arXiv 2603.07904), Table I, OpenVLA-7B on LIBERO (via research/papers.md)"
# suite -> method -> (success %, speedup x or None where the paper prints '-', memory GB)
PAPER_TABLE1: dict[str, dict[str, tuple[float, float | None, float]]] = {
    "goal": {"bf16": (79.2, 1.00, 15.2), "smoothquant_w4a4": (69.6, 1.54, 4.7),
             "qvla": (78.8, 1.49, 4.3), "dyq": (78.5, 1.48, 4.7)},
    "object": {"bf16": (88.4, None, 15.2), "smoothquant_w4a4": (73.2, 1.49, 4.7),
               "qvla": (87.6, 1.44, 4.3), "dyq": (87.8, 1.47, 4.7)},
    "spatial": {"bf16": (84.7, None, 15.2), "smoothquant_w4a4": (69.2, 1.59, 4.7),
                "qvla": (84.4, 1.53, 4.3), "dyq": (84.7, 1.51, 4.7)},
    "long": {"bf16": (53.7, None, 15.2), "smoothquant_w4a4": (40.9, 1.47, 4.7),
             "qvla": (53.0, 1.42, 4.3), "dyq": (53.4, 1.49, 4.7)},
}  # fmt: skip
# Paper ablation (spatial): its rows, success %, latency ms. Different components from ours.
PAPER_ABLATION: tuple[tuple[str, float, float], ...] = (
    ("static W4A4", 69.2, 84.9),
    ("+ kinematic dispatch", 85.0, 101.7),
    ("+ mixed-precision backend", 84.8, 93.5),
    ("+ async engine (full DyQ-VLA)", 84.7, 89.4),
)

# The deployment whose latency and memory are modeled: OpenVLA-7B alone on an A100 (the paper's
# setting), LIBERO-style blocking evaluation (latency recorded, the world waits for it).
DEPLOYMENT_OVERRIDES: tuple[str, ...] = (
    "runtime=simulated",
    "runtime.mode=blocking",
    "runtime.latency=modeled",
    "runtime.architecture=openvla-7b",
    "runtime.precision=bf16",
    "runtime.jitter=false",
    "partition=edge_only",
    "hardware@hardware.edge=a100_80gb",
    "hardware@hardware.cloud=a100_80gb",
    "network=ethernet",
    "scheduler=chunk_replay",
)


def run_overrides(a: SimpleNamespace, suite: str, method: Method) -> list[str]:
    """Overrides of one closed-loop run (acting policy, suite, budget, deployment, method)."""
    out = [
        f"policy={a.policy}",
        f"policy.checkpoint={a.checkpoint}",
        f"env={suite}",
        f"eval.init_states={a.init_states}",
        f"eval.max_tasks={'null' if a.max_tasks is None else a.max_tasks}",
        "eval.progress=false",
        f"seed={a.seed}",
        f"logger={a.logger}",
        *DEPLOYMENT_OVERRIDES,
        *method.overrides,
    ]
    if getattr(a, "image_size", None) is not None:  # render at the size the model was trained on
        out.append(f"env.image_size={a.image_size}")
    out += a.main_overrides
    if needs_demos(method):
        out.append(f"+calibration.demos={a.demos}")
    return out


def run_closed_loop(a: SimpleNamespace, suite: str, method: Method, run_dir: Path) -> Path:
    """Evaluate one (suite, method) into ``run_dir`` through the main job's ``evaluate``."""
    if (run_dir / "results.json").is_file() and a.reuse:
        log.info("reusing %s", run_dir)
        return run_dir
    if run_dir.exists():  # episodes.jsonl appends: a stale run would be counted twice
        shutil.rmtree(run_dir)
    cfg = compose_main(run_overrides(a, suite, method))
    t0 = time.perf_counter()
    evaluate(cfg, run_dir)
    log.info("%s / %s: %.0f s", suite, method.key, time.perf_counter() - t0)
    return run_dir


def openvla_memory_gb(quant_cfg: dict[str, Any]) -> float:
    """OpenVLA-7B weights (GB, 1e9 bytes) under a method config, counted on the meta device."""
    model = build_model(get_shape("openvla-7b"), "meta")
    return model_memory_bytes(model, quant_cfg).total / 1e9


def modeled_precision_ms() -> dict[str, float]:
    """OpenVLA-7B ms per inference on an A100 80GB by precision (INT4 g128 weights below BF16)."""
    trace = build_trace("openvla-7b", granularity="block")
    hw = load_profile("a100_80gb")
    pmap = precision_map({"name": "dyq", "weight_bits": 4, "group_size": 128})

    def ms(precision: Any) -> float:
        part = Partition.edge_only(trace)
        link = link_preset("ethernet")  # unused: nothing crosses a link edge-only
        return latency_breakdown(trace, part, hw, hw, link, precision, charge_io=False).edge_ms

    out = {"BF16": ms("bf16")}
    for bits in (16, 8, 4, 2):
        out[f"W4A{bits}"] = ms(ecc_precision_map(trace.stages, pmap, bits))
    return out


def method_row(run_dir: Path, method: Method, suite: str, bf16_ms: float | None) -> dict[str, Any]:
    """One table row from a run directory (nothing re-typed)."""
    run = load_run(run_dir)
    s = success_block(run.episodes)
    ms = pooled_latency_means(run.episodes).get("inference_ms", math.nan)
    quant = {k.removeprefix("quantization."): v for k, v in run.config.items()
             if k.startswith("quantization.")}  # fmt: skip
    nested: dict[str, Any] = {}
    for k, v in quant.items():  # un-flatten one level (dyq.*, smoothquant.*, qvla.*)
        head, _, tail = k.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = v
        else:
            nested[head] = v
    acting = run.results.get("deployment", {}).get("quantization", {}).get("acting_model_bytes")
    shares = precision_shares(run.episodes)
    row: dict[str, Any] = {
        "suite": suite,
        "method": method.label,
        "key": method.key,
        "episodes": s["episodes"],
        "success_pct": 100 * s["success_rate"],
        "ci95_lo_pct": 100 * s["success_ci95_lo"],
        "ci95_hi_pct": 100 * s["success_ci95_hi"],
        "modeled_ms": ms,
        "modeled_speedup": bf16_ms / ms if bf16_ms and ms else math.nan,
        "openvla7b_memory_gb": openvla_memory_gb(nested),
        "acting_model_mb": acting / 1e6 if acting else math.nan,
        "precision_mix": " ".join(f"A{b}:{100 * v:.0f}%" for b, v in shares.items() if v > 0),
        "run_dir": str(run_dir),
    }
    paper = PAPER_TABLE1.get(suite, {}).get(method.key)
    if paper is not None:
        row["paper_success_pct"], row["paper_speedup"], row["paper_memory_gb"] = paper
    return row


def _cell(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.2f}" if isinstance(x, float) else str(x)


def table_md(rows: list[dict[str, Any]], paper: bool) -> list[str]:
    head = ["suite", "method", "n", "success % [95% CI]", "speedup (modeled)", "OpenVLA-7B GB",
            "acting MB", "precision mix"]  # fmt: skip
    if paper:
        head += ["paper success %", "paper speedup", "paper GB"]
    shown = []
    for r in rows:
        cells = [r["suite"], r["method"], str(r["episodes"]),
                 f"{r['success_pct']:.1f} [{r['ci95_lo_pct']:.1f}, {r['ci95_hi_pct']:.1f}]",
                 f"{r['modeled_speedup']:.2f}x ({r['modeled_ms']:.1f} ms)",
                 f"{r['openvla7b_memory_gb']:.2f}", _cell(r["acting_model_mb"]),
                 r["precision_mix"] or "-"]  # fmt: skip
        if paper:
            ps = r.get("paper_success_pct")
            cells += [f"{ps:.1f}" if ps is not None else "-", _cell(r.get("paper_speedup")),
                      _cell(r.get("paper_memory_gb"))]  # fmt: skip
        shown.append(dict(zip(head, cells, strict=True)))
    return markdown_table(shown, head, cell=str).splitlines()


def notes(a: SimpleNamespace, precision_ms: dict[str, float]) -> list[str]:
    ms = ", ".join(f"{k} {v:.1f} ms" for k, v in precision_ms.items())
    return [
        (
            f"Acting policy: `{a.policy}` checkpoint `{a.checkpoint}` (a tiny VLA trained here, about "
            "1-2M parameters; NOT OpenVLA-7B). Success is this policy's, quantized by each method, "
            f"on {a.init_states} init state(s) x "
            f"{'all' if a.max_tasks is None else a.max_tasks} task(s) per suite, seed {a.seed}."
        ),
        (
            "Speedup and OpenVLA-7B memory are MODELED: the ecc cost model prices OpenVLA-7B on an "
            "A100 80GB profile (roofline, edge-only) at each inference's precision; memory counts "
            "OpenVLA-7B weights on the meta device. Neither is a measurement on a GPU."
        ),
        (
            f"Modeled OpenVLA-7B per inference on A100 (INT4 g128 weights below BF16): {ms}. The "
            "cost model has no W4A2 kernel, so A2 is priced as A4; the paper's measured W4A4 "
            "speedups (1.47-1.59x) are below the model's roofline figure."
        ),
        (
            "QVLA-style memory counts INT4 weights with group-32 scales (the bit allocation of a "
            "7B model is not computed here); the paper reports 4.3 GB."
        ),
        (
            f"SmoothQuant and QVLA calibrate on frames of `{a.demos}`. DyQ thresholds are "
            "conf/quantization/dyq.yaml's (placeholders unless calibrated with "
            "`vecc-tool tool=calibrate_dyq`)."
        ),
        f"Published: {PAPER}. The paper's BF16 speedup is printed only for goal (1.00).",
    ]


def plot(rows: list[dict[str, Any]], ablation: list[dict[str, Any]], path: Path) -> Path:
    """Success (Wilson 95%) per method and suite, and modeled speedup vs the paper's."""
    plt = pyplot()

    suites = list(dict.fromkeys(r["suite"] for r in rows))
    methods = list(dict.fromkeys(r["key"] for r in rows))
    labels = {r["key"]: r["method"] for r in rows}
    cell = {(r["suite"], r["key"]): r for r in rows}
    fig, ax = plt.subplots(1, 3 if ablation else 2, figsize=(15 if ablation else 11, 4))
    width = 0.8 / len(methods)
    for j, m in enumerate(methods):
        xs = [i + j * width for i in range(len(suites))]
        rs = [cell[(s, m)] for s in suites]
        ys = [r["success_pct"] for r in rs]
        err = [[r["success_pct"] - r["ci95_lo_pct"] for r in rs],
               [r["ci95_hi_pct"] - r["success_pct"] for r in rs]]  # fmt: skip
        ax[0].bar(xs, ys, width, yerr=err, capsize=2, label=labels[m])
        paper = [r.get("paper_success_pct", math.nan) for r in rs]
        ax[0].scatter(xs, paper, marker="_", s=200, color="k", zorder=3)
        sp = [r["modeled_speedup"] for r in rs]
        ax[1].bar(xs, sp, width, label=labels[m])
        ax[1].scatter(xs, [r.get("paper_speedup") or math.nan for r in rs], marker="_", s=200,
                      color="k", zorder=3)  # fmt: skip
    for k, lab in enumerate(("success % (ours, Wilson 95%; black: paper)",
                             "speedup over BF16 (modeled; black: paper)")):  # fmt: skip
        ax[k].set_xticks([i + width * (len(methods) - 1) / 2 for i in range(len(suites))], suites)
        ax[k].set_ylabel(lab, fontsize=8)
    ax[0].legend(fontsize=7)
    if ablation:
        ys = [r["success_pct"] for r in ablation]
        err = [[r["success_pct"] - r["ci95_lo_pct"] for r in ablation],
               [r["ci95_hi_pct"] - r["success_pct"] for r in ablation]]  # fmt: skip
        ax[2].barh(range(len(ablation)), ys, xerr=err, capsize=2)
        ax[2].set_yticks(range(len(ablation)),
                         [f"{r['method']} ({r['suite']})" for r in ablation], fontsize=7)  # fmt: skip
        ax[2].set_xlabel("success % (Wilson 95%)", fontsize=8)
        ax[2].set_title("ablation", fontsize=9)
    return save_figure(fig, path)


def collect_calibration_demos(path: Path, image_size: int) -> Path:
    """Scripted-expert demos of every object task (``CALIBRATION_DEMOS_PER_TASK`` each) for
    SmoothQuant/QVLA calibration when no demonstrations file is given; reused when present."""
    if not path.is_file():
        log.warning(
            "no calibration demos given: collecting %d scripted-expert demos per object task "
            "into %s",
            CALIBRATION_DEMOS_PER_TASK,
            path,
        )
        run_app("tool", "collect_demos", [
            "suite=object", f"n_per_task={CALIBRATION_DEMOS_PER_TASK}", f"out={path}",
            f"image_size={image_size}", "workers=1",
        ])  # fmt: skip
    return path


def run(cfg: DictConfig) -> dict[str, Any]:
    """The table app's entry (conf/table/dyq.yaml): every run, then the tables, into ``cfg.out``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    a = as_args(cfg, paths=("out",))
    if a.checkpoint is None:
        a.checkpoint = str(DEFAULT_CHECKPOINT)
    for field, allowed in (("suites", SUITES), ("methods", [m.key for m in TABLE_METHODS])):
        bad = [v for v in getattr(a, field) if v not in allowed]
        if bad:
            raise ConfigError(f"{field}={bad} is not allowed; allowed: {', '.join(allowed)}")
    if not Path(a.checkpoint).is_dir():
        raise ConfigError(
            f"checkpoint={a.checkpoint!r} is not allowed; allowed: a checkpoint directory"
        )
    if a.policy is None:
        a.policy = f"{read_checkpoint_config(a.checkpoint)['family']}_tiny"
    torch.set_num_threads(1)  # episodes are sequential; one thread leaves the other core free
    if a.image_size is None:  # a frame rendered at 128 px and resized is not a 64 px frame
        a.image_size = load_policy(a.checkpoint).shape.vision[0].image_size
    t_start = time.perf_counter()
    a.out.mkdir(parents=True, exist_ok=True)
    calibrates = any(needs_demos(m) for m in TABLE_METHODS if m.key in a.methods)
    if calibrates and not Path(a.demos).is_file():
        a.demos = str(collect_calibration_demos(a.out / "calibration_demos.hdf5", a.image_size))
    ablation_suite = "spatial" if "spatial" in a.suites else a.suites[0]
    methods = [m for m in TABLE_METHODS if m.key == "bf16" or m.key in a.methods]
    in_table = {m.key for m in methods}
    extra = [] if a.no_ablation else [m for m in ABLATION_METHODS if m.key not in in_table]
    rows, ablation = [], []
    for suite in a.suites:
        dirs = {}
        for m in methods + (extra if suite == ablation_suite else []):
            dirs[m.key] = run_closed_loop(a, suite, m, a.out / "runs" / suite / m.key)
        bf16_ms = pooled_latency_means(load_run(dirs["bf16"]).episodes).get("inference_ms")
        rows += [method_row(dirs[m.key], m, suite, bf16_ms) for m in methods]
        if suite == ablation_suite and not a.no_ablation:
            ablation = [method_row(dirs[m.key], m, suite, bf16_ms) for m in ABLATION_METHODS]
    precision_ms = modeled_precision_ms()
    elapsed = time.perf_counter() - t_start
    title = f"DyQ-VLA Table I shape ({a.mode} mode; checkpoint {a.checkpoint})"
    md = [f"# {title}", "", *table_md(rows, paper=True), ""]
    if ablation:
        md += [f"## Ablation ({ablation_suite}; our components)", "",
               *table_md(ablation, paper=False), "",
               "Paper ablation (spatial; success %, latency ms): "
               + "; ".join(f"{n} {s} / {ms}" for n, s, ms in PAPER_ABLATION)
               + ". Its backend and async-engine rows are system components a cost model does "
               "not separate; ours switch off the controller's parts instead.", ""]  # fmt: skip
    md += ["## What differs from the paper", "", *[f"- {n}" for n in notes(a, precision_ms)], "",
           f"Wall time on this machine: {elapsed:.0f} s."]  # fmt: skip
    (a.out / "dyq_table.md").write_text("\n".join(md) + "\n")
    write_csv(a.out / "dyq_table.csv", rows)
    if ablation:
        write_csv(a.out / "dyq_ablation.csv", ablation)
    png = plot(rows, ablation, a.out / "dyq_table.png")
    record = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
        "deployment_overrides": list(DEPLOYMENT_OVERRIDES),
        "rows": rows,
        "ablation": ablation,
        "modeled_precision_ms": precision_ms,
        "paper": {"source": PAPER, "table1": PAPER_TABLE1, "ablation": PAPER_ABLATION},
        "wall_s": elapsed,
        "provenance": provenance(),
    }
    (a.out / "dyq_table.json").write_text(json.dumps(record, indent=2, default=str))
    print("\n".join(md))
    print(f"wrote {a.out}/dyq_table.md, dyq_table.csv, {png.name}, dyq_table.json, runs/ ")
    return record


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("table", "dyq")
