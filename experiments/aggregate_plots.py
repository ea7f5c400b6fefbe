"""The standard sweep plots, drawn from run directories only (``experiments.aggregate`` calls these).

- ``success_vs_bandwidth.png``: success with Wilson 95% bars against uplink bandwidth (Mbit/s), one
  line per combination of the other swept fields (seeds pooled);
- ``latency_breakdown.png``: mean edge / uplink / cloud / downlink / queue ms per inference, stacked,
  one bar per run;
- ``precision_timeline.png``: activation bits chosen per executed action, first episodes of each run;
- ``cut_vs_bandwidth.png``: the partition cut of every inference over world time (s) against the
  uplink bandwidth the link had then.

Each is skipped, with one log line saying why, when its fields are absent from the runs. Lines,
bars and panels are named by ``sweep_records.run_labels`` (the differing Hydra overrides,
``scheduler=rapid, network=lte``); legends sit right of the axes and the file is cropped to what
was drawn, so a long label widens the image instead of covering data or being cut off.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.figures import pyplot
from experiments.sweep_records import (
    BREAKDOWN_FIELDS,
    REPLICATE_OVERRIDES,
    Run,
    cut_description,
    run_labels,
    success_block,
)

log = logging.getLogger(__name__)

MAX_BARS = 40  # latency stacks: more runs than this do not read as bars
MAX_PANELS = 6  # timelines: runs shown
EPISODES_PER_PANEL = 3


DPI = 110
DODGE = 1.06  # success_vs_bandwidth: factor between neighbouring series on the bandwidth axis


def _legend_right(ax: Any, **kwargs: Any) -> None:
    """Legend outside the axes, to their right: it never covers data; the crop keeps it whole."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=7, **kwargs)


def _save(fig: Any, path: Path) -> Path:
    """Write ``path`` cropped to everything drawn (legends outside the axes included), close."""
    plt = pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return path


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
    # the network is the x axis and seeds pool: a series is what remains
    series = run_labels(runs, swept, exclude=("network", *REPLICATE_OVERRIDES), fallback="all runs")
    cells: dict[str, dict[float, list[dict[str, Any]]]] = {}
    for r, label in zip(runs, series):
        if bw[id(r)] is None:
            continue
        cells.setdefault(label, {}).setdefault(bw[id(r)], []).extend(r.episodes)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    n = len(cells)
    for i, (label, by_bw) in enumerate(sorted(cells.items())):
        xs = sorted(by_bw)
        blocks = [success_block(by_bw[x]) for x in xs]
        # series with equal results would hide each other: nudge each sideways (a few % on the
        # log axis, far less than the gap between link presets)
        nudge = DODGE ** (i - (n - 1) / 2)
        xs = [x * nudge for x in xs]
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
    ax.set_title("success against uplink bandwidth (seeds pooled)", fontsize=9)
    _legend_right(ax, title="condition", title_fontsize=7)
    return _save(fig, out / "success_vs_bandwidth.png")


def latency_breakdown(
    runs: Sequence[Run], rows: Sequence[dict[str, Any]], swept: Sequence[str], out: Path
) -> Path | None:
    """Stacked mean latency per inference (ms) by component, one horizontal bar per run.

    Horizontal, so that run labels read level at any length; the first run is on top.
    """
    present = [f for f in BREAKDOWN_FIELDS if any(f"{f}_mean" in r for r in rows)]
    if not present:
        log.info("latency_breakdown skipped: no run recorded %s", "/".join(BREAKDOWN_FIELDS))
        return None
    if len(rows) > MAX_BARS:
        log.info("latency_breakdown: showing the first %d of %d runs", MAX_BARS, len(rows))
    plt = pyplot()
    shown = list(zip(runs, rows))[:MAX_BARS]
    labels = run_labels(runs, swept)[:MAX_BARS]
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(shown) + 1.4))
    left = [0.0] * len(shown)
    ys = range(len(shown))
    for f in present:
        vals = [float(row.get(f"{f}_mean", 0.0) or 0.0) for _, row in shown]
        ax.barh(ys, vals, left=left, height=0.6, label=f.removesuffix("_ms"))
        left = [b + v for b, v in zip(left, vals)]
    ax.set_yticks(list(ys), labels, fontsize=7)
    ax.invert_yaxis()
    # stacked zero-width bars pin the autoscale at the bar's end: set the room explicitly
    ax.set_xlim(0, 1.05 * max(left) if max(left) > 0 else 1.0)
    ax.set_xlabel("mean latency per inference (ms)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("latency breakdown per run", fontsize=9)
    _legend_right(ax, title="component", title_fontsize=7)
    return _save(fig, out / "latency_breakdown.png")


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
    names = dict(zip(map(id, runs), run_labels(runs, swept)))
    fig, axes = plt.subplots(len(chosen), 1, figsize=(7, 1.8 * len(chosen) + 0.6), squeeze=False)
    for ax, run in zip(axes[:, 0], chosen):
        eps = [e for e in run.episodes if "act_bits" in e.get("extra", {}).get("timeline", {})]
        for e in eps[:EPISODES_PER_PANEL]:
            bits = e["extra"]["timeline"]["act_bits"]
            ax.step(range(len(bits)), bits, where="post", label=f"{e['task']} #{e['init_state']}")
        ax.set_yscale("log", base=2)
        ax.set_yticks([2, 4, 8, 16], ["A2", "A4", "A8", "BF16"])
        ax.set_title(names[id(run)], fontsize=8)
        _legend_right(ax, title="episode", title_fontsize=7)
    axes[-1, 0].set_xlabel("executed action")
    fig.tight_layout()
    return _save(fig, out / "precision_timeline.png")


def cut_vs_bandwidth(runs: Sequence[Run], swept: Sequence[str], out: Path) -> Path | None:
    """Cut of each inference over world time (s) above the uplink bandwidth (Mbit/s) then.

    Two axes per run sharing the time axis, not one with a twin: a steady cut and a steady link
    would otherwise draw one line over the other.
    """
    chosen = _with_timeline(runs, "cut", "uplink_mbps", "inference_step")[:MAX_PANELS]
    if not chosen:
        log.info("cut_vs_bandwidth skipped: no episode recorded a cut and uplink bandwidth")
        return None
    plt = pyplot()
    names = dict(zip(map(id, runs), run_labels(runs, swept)))
    # one subfigure per run: its cut and bandwidth axes sit close, runs are spaced apart
    fig = plt.figure(figsize=(7, 2.4 * len(chosen)), layout="constrained")
    subfigs = fig.subfigures(len(chosen), 1, squeeze=False, hspace=0.04)[:, 0]
    for run, sub in zip(chosen, subfigs):
        ax, bw_ax = sub.subplots(2, 1, sharex=True, height_ratios=[1.5, 1.0])
        e = next(e for e in run.episodes if "cut" in e.get("extra", {}).get("timeline", {}))
        tl = e["extra"]["timeline"]
        dt = 1.0 / float(run.config.get("runtime.control_hz") or 20.0)  # s per control step
        t = [s * dt for s in tl["inference_step"]]
        cuts = [str(c) for c in tl["cut"]]
        order = list(dict.fromkeys(cuts))  # categories in order of first use
        ax.step(t, [order.index(c) for c in cuts], where="post", color="C0", marker="o", ms=4)
        direction = str(run.config.get("partition.direction") or "edge_prefix")
        ax.set_yticks(range(len(order)), [cut_description(c, direction) for c in order], fontsize=7)
        # one category gets a band either side, so its line does not sit on the frame
        ax.set_ylim(-0.5, len(order) - 0.5)
        ax.set_ylabel("cut", fontsize=8)
        ax.set_title(f"{names[id(run)]}  ({e['task']} #{e['init_state']})", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        # the link holds its bandwidth until the next sample: a step, not a ramp
        bw = [b if b is not None else float("nan") for b in tl["uplink_mbps"]]
        bw_ax.step(t, bw, where="post", color="C1", marker=".", lw=1.0)
        bw_ax.set_yscale("log")
        bw_ax.set_ylabel("uplink\nMbit/s", fontsize=8)
        bw_ax.tick_params(axis="y", labelsize=7)
        bw_ax.grid(alpha=0.3)
        bw_ax.set_xlabel("world time (s)", fontsize=8)
    return _save(fig, out / "cut_vs_bandwidth.png")


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
