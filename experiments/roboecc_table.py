"""RoboECC tables: speedup over edge-only across bandwidths, and adaptive vs oracle vs static.

    python -m experiments.table table=roboecc [budget=quick|full] [out=DIR] [bandwidths=[5,10,...]]
    vecc-table table=roboecc budget=quick          # the same through the console script

Fields and presets: conf/table/roboecc.yaml (the old flags map there: --quick -> budget=quick).
Recorded links (a folder of Mahimahi NAME.up / NAME.down pairs): ``table=roboecc_traces
traces=DIR`` (experiments/roboecc_traces.py).
Writes speedup.csv, speedup.md, speedup.png and adaptive.csv / adaptive.md under ``out``
and prints both tables. Every number is computed here from the traces and the hardware
profiles in conf/hardware (nothing re-typed). Two conventions are reported: charging the
image upload and action download (ours, default) and RoboECC's convention of not charging
them (``charge_io=False``), each with the edge holding the prefix of the model. The adaptive table
runs the planner of conf/partition/roboecc.yaml and the same planner without its deadline fallback,
and reports how far below the best static cut the oracle itself is (the room any planner has).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from omegaconf import DictConfig, OmegaConf

from core.provenance import provenance
from ecc.config import planner_from_config
from ecc.evaluation import adaptive_comparison
from ecc.network.link import LinkState
from ecc.network.traces import markov, step
from ecc.planners import RoboECCPlanner, make_context
from experiments.apps import conf_dir
from experiments.figures import pyplot, save_figure
from experiments.tables import write_table

log = logging.getLogger(__name__)

MODELS = ("openvla-7b", "cogact")
PAIRS = (("orin_agx_64gb", "a100_80gb"), ("thor", "a100_80gb"))
DEFAULT_BW = (5, 10, 20, 50, 100, 200, 500, 1000)
PUBLISHED = {"orin_agx_64gb": "3.16-3.28x", "thor": "2.10-2.23x"}  # RoboECC headline ranges


def speedup_rows(
    bandwidths: list[float], delay_ms: float, granularity: str, max_cloud_load: float = 1.0
) -> list[dict]:
    rows = []
    for charge_io in (True, False):
        for arch in MODELS:
            for edge, cloud in PAIRS:
                ctx = make_context(arch, edge, cloud, granularity=granularity, charge_io=charge_io,
                                   max_cloud_load=max_cloud_load)  # fmt: skip
                planner = RoboECCPlanner()
                edge_ms = float(ctx.costs.edge_ms[-1] + ctx.costs.cloud_ms[-1])
                for bw in bandwidths:
                    link = LinkState(bw, bw, delay_ms)  # symmetric: the paper gives one bandwidth
                    plan = planner.plan(ctx, link)
                    rows.append({
                        "convention": "charged_io" if charge_io else "roboecc_free_io",
                        "model": arch, "edge": edge, "cloud": cloud, "bandwidth_mbps": bw,
                        "edge_only_ms": round(edge_ms, 2), "roboecc_ms": round(plan.predicted_ms, 2),
                        "speedup": round(edge_ms / plan.predicted_ms, 3), "cut": ctx.trace.cut_name(plan.cut),
                    })  # fmt: skip
    return rows


def partition_conf() -> Path:
    """conf/partition/roboecc.yaml of the installed config package."""
    return conf_dir() / "partition" / "roboecc.yaml"


def planner_variants() -> dict[str, Callable[[], RoboECCPlanner]]:
    """The configured RoboECC (conf/partition/roboecc.yaml) and the same without the deadline fallback."""
    conf = OmegaConf.load(partition_conf())
    reactive = OmegaConf.merge(conf, {"planner": {"fallback_factor": None}})
    return {
        "roboecc (conf)": lambda: planner_from_config(conf),
        "roboecc, no deadline fallback": lambda: planner_from_config(reactive),
    }


def adaptive_rows(n_actions: int, gap_ms: float) -> list[dict]:
    link = LinkState(50, 200, 10, 2, 0.001)
    traces = {
        "step 100<->0.5 Mbit/s every 60 s": step([100, 0.5], 60, 2400),
        "markov good 100 / bad 0.5 Mbit/s (p_gb .02, p_bg .05 per s)": markov(100, 0.5, 0.02, 0.05, 1.0, 2400, seed=0),
        "step 100<->1 Mbit/s every 30 s": step([100, 1.0], 30, 2400),
        "markov good 100 / bad 1 Mbit/s (p_gb .05, p_bg .1 per s)": markov(100, 1.0, 0.05, 0.1, 1.0, 2400, seed=0),
    }  # fmt: skip
    rows = []
    for arch in MODELS:
        for edge, cloud in PAIRS:
            ctx = make_context(arch, edge, cloud, granularity="sublayer")
            for tname, tr in traces.items():
                for variant, make_planner in planner_variants().items():
                    r = adaptive_comparison(ctx, tr, link, n_actions, gap_ms, make_planner())
                    fb = r.vs_static_fallback
                    rows.append({
                        "model": arch, "edge": edge, "trace": tname, "planner": variant,
                        # both directions are schedules; the downlink is the uplink trace x 4
                        "downlink": f"uplink trace x {link.down_mbps / link.up_mbps:g}",
                        "roboecc_ms": round(r.roboecc_ms, 1), "oracle_ms": round(r.oracle_ms, 1),
                        "best_static_ms": round(r.best_static_ms, 1), "best_static_cut": r.best_static_cut,
                        "vs_oracle_pct": round(100 * r.vs_oracle, 1), "below_static_pct": round(100 * r.vs_static, 1),
                        # the room any planner has: how far below the best static cut the oracle is
                        "oracle_below_static_pct": round(100 * (1 - r.oracle_ms / r.best_static_ms), 1),
                        "below_static_with_fallback_pct": None if fb is None else round(100 * fb, 1),
                        "aborted": r.aborted, "overhead_pct": round(r.overhead_pct, 4), "switches": r.switches,
                        "pool": " | ".join(r.pool_cuts), "pool_memory_gb": round(r.pool_memory_bytes / 1e9, 2),
                        "probe_bytes": r.probe_bytes,
                    })  # fmt: skip
    return rows


def plot_speedup(rows: list[dict], path: Path) -> None:
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, conv in zip(axes, ("charged_io", "roboecc_free_io")):
        for arch in MODELS:
            for edge, _ in PAIRS:
                sel = [
                    r
                    for r in rows
                    if r["convention"] == conv and r["model"] == arch and r["edge"] == edge
                ]
                ax.plot([r["bandwidth_mbps"] for r in sel], [r["speedup"] for r in sel], marker="o",
                        label=f"{arch} {edge}+A100")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("bandwidth (Mbit/s)")
        ax.set_title(conv)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("speedup over edge-only (x)")
    axes[0].legend(fontsize=8)
    save_figure(fig, path, dpi=120)


def print_rows(rows: list[dict], keys: list[str]) -> None:
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    for r in rows:
        print("  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths)))


def run(cfg: DictConfig) -> None:
    """The table app's entry (conf/table/roboecc.yaml): both tables into ``cfg.out``."""
    # the old argparse namespace's keys and types, so roboecc_table.json records the same config
    args = SimpleNamespace(
        out=str(cfg.out),
        bandwidths=",".join(f"{float(b):g}" for b in cfg.bandwidths),
        delay_ms=float(cfg.delay_ms),
        granularity=str(cfg.granularity),
        actions=int(cfg.actions),
        gap_ms=float(cfg.gap_ms),
        max_cloud_load=float(cfg.max_cloud_load),
        skip_adaptive=bool(cfg.skip_adaptive),
        mode=str(cfg.budget),
    )
    out = Path(args.out)
    bws = [float(b) for b in cfg.bandwidths]

    rows = speedup_rows(bws, args.delay_ms, args.granularity, args.max_cloud_load)
    write_table(out, "speedup", rows, digits=None)
    plot_speedup(rows, out / "speedup.png")
    print(f"Speedup over edge-only (one-way delay {args.delay_ms} ms, cloud-load budget {args.max_cloud_load}). "
          "Published RoboECC: "
          f"Orin+A100 {PUBLISHED['orin_agx_64gb']}, Thor+A100 {PUBLISHED['thor']}.")  # fmt: skip
    for conv in ("charged_io", "roboecc_free_io"):
        print(f"\n== {conv}")
        sel = [r for r in rows if r["convention"] == conv]
        piv = {}
        for r in sel:
            piv.setdefault((r["model"], r["edge"]), {})[r["bandwidth_mbps"]] = r["speedup"]
        print(f"{'model':12s} {'edge':14s} " + " ".join(f"{b:>7g}" for b in bws))
        for (m, e), d in piv.items():
            print(f"{m:12s} {e:14s} " + " ".join(f"{d[b]:7.2f}" for b in bws))
        peak = max(sel, key=lambda r: r["speedup"])
        print(f"max speedup {peak['speedup']}x ({peak['model']}, {peak['edge']}, {peak['bandwidth_mbps']} Mbit/s, "
              f"cut {peak['cut']})")  # fmt: skip
    print(f"\nwrote {out / 'speedup.csv'}, {out / 'speedup.md'}, {out / 'speedup.png'}")

    if not args.skip_adaptive:
        arows = adaptive_rows(args.actions, args.gap_ms)
        write_table(out, "adaptive", arows, digits=None)
        print("\nAdaptive (RoboECC) vs oracle vs best static cut, mean latency per generation; "
              f"{args.actions} generations, {args.gap_ms} ms chunk playback between them")  # fmt: skip
        print_rows(arows, ["model", "edge", "trace", "planner", "roboecc_ms", "oracle_ms", "best_static_ms",
                           "vs_oracle_pct", "below_static_pct", "oracle_below_static_pct",
                           "below_static_with_fallback_pct", "aborted", "overhead_pct", "switches",
                           "pool_memory_gb"])  # fmt: skip
        print(f"wrote {out / 'adaptive.csv'}, {out / 'adaptive.md'}")
    # What produced the tables: the fields (budget as "mode"), versions, git commit.
    record = {"config": dict(vars(args)), "published": PUBLISHED, "provenance": provenance()}
    (out / "roboecc_table.json").write_text(json.dumps(record, indent=2))
    print(f"wrote {out / 'roboecc_table.json'}")


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("table", "roboecc")
