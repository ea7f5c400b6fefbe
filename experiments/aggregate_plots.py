"""The standard sweep plots, drawn from run directories only (``experiments.aggregate`` calls these).

- ``success_vs_bandwidth.png``: success with Wilson 95% bars against uplink bandwidth (Mbit/s), one
  line per combination of the other swept fields (seeds pooled);
- ``latency_breakdown.png``: mean edge / uplink / cloud / downlink / queue ms per inference, stacked,
  one bar per run;
- ``precision_timeline.png``: activation bits chosen per executed action, first episodes of each run;
- ``cut_vs_bandwidth.png``: the partition cut of every inference over world time (s) against the
  uplink bandwidth the link had then.

Each is skipped, with one log line saying why, when its fields are absent from the runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.figures import pyplot, save_figure
from experiments.sweep_records import (
    BREAKDOWN_FIELDS,
    REPLICATE_FIELDS,
    Run,
    display_value,
    success_block,
)

log = logging.getLogger(__name__)

MAX_BARS = 40  # latency stacks: more runs than this do not read as bars
MAX_PANELS = 6  # timelines: runs shown
EPISODES_PER_PANEL = 3


def _label(run: Run, fields: Sequence[str]) -> str:
    parts = [f"{f.rsplit('.', 1)[-1] if not f.endswith('_target_') else f.split('.')[0]}="
             f"{display_value(f, run.config.get(f))}" for f in fields]  # fmt: skip
    return ", ".join(parts) or run.path.name


def _bandwidth(run: Run) -> float | None:
    """Uplink bandwidth of a run (Mbit/s): the mean seen by its inferences under a trace, else the link's."""
    seen = [
        b
        for e in run.episodes
        for b in e.get("extra", {}).get("timeline", {}).get("uplink_mbps", [])
        if b is not None
    ]
    traced = any(run.config.get(k) for k in ("network.trace._target_", "network.trace.up",
                                             "network.trace.up._target_"))  # fmt: skip
    if traced and seen:
        return sum(seen) / len(seen)
    value = run.config.get("network.link.up_mbps")
    return float(value) if value is not None else None


def success_vs_bandwidth(runs: Sequence[Run], swept: Sequence[str], out: Path) -> Path | None:
    """Success (Wilson 95%) against uplink bandwidth; None (logged) without >= 2 bandwidths."""
    bw = {id(r): _bandwidth(r) for r in runs}
    if len({b for b in bw.values() if b is not None}) < 2:
        log.info(
            "success_vs_bandwidth skipped: fewer than 2 distinct uplink bandwidths in the runs"
        )
        return None
    series_fields = [f for f in swept if not f.startswith("network.") and f not in REPLICATE_FIELDS]
    cells: dict[str, dict[float, list[dict[str, Any]]]] = {}
    for r in runs:
        if bw[id(r)] is None:
            continue
        cells.setdefault(_label(r, series_fields), {}).setdefault(bw[id(r)], []).extend(r.episodes)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, by_bw in sorted(cells.items()):
        xs = sorted(by_bw)
        blocks = [success_block(by_bw[x]) for x in xs]
        ys = [100 * b["success_rate"] for b in blocks]
        err = [
            [100 * (b["success_rate"] - b["success_ci95_lo"]) for b in blocks],
            [100 * (b["success_ci95_hi"] - b["success_rate"]) for b in blocks],
        ]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("uplink bandwidth (Mbit/s)")
    ax.set_ylabel("success % (Wilson 95%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, out / "success_vs_bandwidth.png")


def latency_breakdown(
    runs: Sequence[Run], rows: Sequence[dict[str, Any]], swept: Sequence[str], out: Path
) -> Path | None:
    """Stacked mean latency per inference (ms) by component, one bar per run."""
    present = [f for f in BREAKDOWN_FIELDS if any(f"{f}_mean" in r for r in rows)]
    if not present:
        log.info("latency_breakdown skipped: no run recorded %s", "/".join(BREAKDOWN_FIELDS))
        return None
    if len(rows) > MAX_BARS:
        log.info("latency_breakdown: showing the first %d of %d runs", MAX_BARS, len(rows))
    plt = pyplot()
    shown = list(zip(runs, rows))[:MAX_BARS]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(shown) + 3), 4.5))
    bottom = [0.0] * len(shown)
    labels = [_label(run, [f for f in swept if f not in REPLICATE_FIELDS]) for run, _ in shown]
    for f in present:
        vals = [float(row.get(f"{f}_mean", 0.0) or 0.0) for _, row in shown]
        ax.bar(range(len(shown)), vals, bottom=bottom, label=f.removesuffix("_ms"))
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(shown)), labels, rotation=35, ha="right", fontsize=6)
    ax.set_ylabel("mean latency per inference (ms)")
    ax.legend(fontsize=7)
    return save_figure(fig, out / "latency_breakdown.png")


def _with_timeline(runs: Sequence[Run], *columns: str) -> list[Run]:
    return [
        r
        for r in runs
        if any(
            all(c in e.get("extra", {}).get("timeline", {}) for c in columns) for e in r.episodes
        )
    ]


def precision_timeline(runs: Sequence[Run], swept: Sequence[str], out: Path) -> Path | None:
    """Activation bits per executed action for the first episodes of up to MAX_PANELS runs."""
    chosen = _with_timeline(runs, "act_bits")[:MAX_PANELS]
    if not chosen:
        log.info("precision_timeline skipped: no episode recorded extra.timeline.act_bits")
        return None
    plt = pyplot()
    fig, axes = plt.subplots(len(chosen), 1, figsize=(8, 1.8 * len(chosen) + 0.6), squeeze=False)
    for ax, run in zip(axes[:, 0], chosen):
        eps = [e for e in run.episodes if "act_bits" in e.get("extra", {}).get("timeline", {})]
        for e in eps[:EPISODES_PER_PANEL]:
            bits = e["extra"]["timeline"]["act_bits"]
            ax.step(range(len(bits)), bits, where="post", label=f"{e['task']} #{e['init_state']}")
        ax.set_yscale("log", base=2)
        ax.set_yticks([2, 4, 8, 16], ["A2", "A4", "A8", "BF16"])
        ax.set_title(_label(run, swept), fontsize=7)
        ax.legend(fontsize=6, loc="lower right")
    axes[-1, 0].set_xlabel("executed action")
    return save_figure(fig, out / "precision_timeline.png")


def cut_vs_bandwidth(runs: Sequence[Run], swept: Sequence[str], out: Path) -> Path | None:
    """Cut of each inference over world time (s) against the uplink bandwidth (Mbit/s) then."""
    chosen = _with_timeline(runs, "cut", "uplink_mbps", "inference_step")[:MAX_PANELS]
    if not chosen:
        log.info("cut_vs_bandwidth skipped: no episode recorded a cut and uplink bandwidth")
        return None
    plt = pyplot()
    fig, axes = plt.subplots(len(chosen), 1, figsize=(9, 2.2 * len(chosen) + 0.6), squeeze=False)
    for ax, run in zip(axes[:, 0], chosen):
        e = next(e for e in run.episodes if "cut" in e.get("extra", {}).get("timeline", {}))
        tl = e["extra"]["timeline"]
        dt = 1.0 / float(run.config.get("runtime.control_hz") or 20.0)  # s per control step
        t = [s * dt for s in tl["inference_step"]]
        cuts = [str(c) for c in tl["cut"]]
        order = list(dict.fromkeys(cuts))  # categories in order of first use
        ax.step(t, [order.index(c) for c in cuts], where="post", color="C0", label="cut")
        ax.set_yticks(range(len(order)), order, fontsize=6)
        ax.set_ylabel("cut", color="C0")
        bw_ax = ax.twinx()
        # the link holds its bandwidth until the next sample: a step, not a ramp
        bw = [b if b is not None else float("nan") for b in tl["uplink_mbps"]]
        bw_ax.step(t, bw, where="post", color="C1", marker=".", lw=0.8)
        bw_ax.set_yscale("log")
        bw_ax.set_ylabel("uplink Mbit/s", color="C1")
        ax.set_title(f"{_label(run, swept)} | {e['task']} #{e['init_state']}", fontsize=7)
    axes[-1, 0].set_xlabel("world time (s)")
    return save_figure(fig, out / "cut_vs_bandwidth.png")


def draw_all(
    runs: Sequence[Run], rows: Sequence[dict[str, Any]], swept: Sequence[str], out: Path
) -> list[Path]:
    """Every standard plot the runs have data for; returns the files written."""
    made = [
        success_vs_bandwidth(runs, swept, out),
        latency_breakdown(runs, rows, swept, out),
        precision_timeline(runs, swept, out),
        cut_vs_bandwidth(runs, swept, out),
    ]
    return [p for p in made if p is not None]
