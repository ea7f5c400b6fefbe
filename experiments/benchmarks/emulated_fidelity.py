"""Fidelity: emulated split inference (real server, real frames, shaped link) vs the simulated prediction.

For every (bandwidth, one-way delay, cut) in the grid, runs the tiny model split at that cut between an
edge client and a stage server joined by the best available shaped link, and compares the median
measured per-inference latency with ``ecc.cost.latency_breakdown`` for the same configuration on the
calibrated profile of this CPU (``conf/hardware/local_cpu.yaml`` or a fresh ``python -m ecc.calibrate``).
Target (issue 5): every cell within 10%.

    sudo vecc-bench bench=emulated_fidelity [shape=oft-tiny] [runs=15]

Fields: conf/bench/emulated_fidelity.yaml (the old flags map there: --runs 15 -> runs=15).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.zoo import random_inputs, random_model
from core.provenance import provenance
from ecc.cost import Partition, latency_breakdown
from ecc.emulated import SplitExecutor, StageServer, module_order
from ecc.hardware import load_profile
from ecc.links import LinkConfig, best_available
from ecc.network.link import LinkState
from ecc.trace import build_trace
from ecc.wire import Codec
from ecc.wire.transport import Client, TransportConfig
from experiments.apps import as_args

SECRET = b"fidelity-benchmark-secret-0123456789"


def run(cfg: Any) -> int:
    """The bench app's entry (conf/bench/emulated_fidelity.yaml): 0 if every cell is within 10%, else 1."""
    args = as_args(cfg)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)

    model = random_model(args.shape, std=None)
    inputs = random_inputs(model.shape, seed=0)
    n_modules = len(module_order(model.stages()))
    trace = build_trace(args.shape, granularity="block", act_bytes=4, image_bytes_per_value=4)
    cpu = load_profile(args.profile)
    codec = Codec(SECRET)
    rows = []
    link, kind = best_available(
        LinkConfig(kind=args.link, up_mbps=args.bandwidths[0], down_mbps=args.bandwidths[0])
    )
    print(f"link: {kind}  ({link.describe().get('fallback_reason') or 'first choice'})")
    with link, StageServer(model, codec, listen_sock=link.listen()) as server:
        addr = link.expose(server.address)
        cfg = TransportConfig(connect_timeout_s=5.0, read_timeout_s=60.0, retries=1)
        client = Client(addr, codec, cfg, socket_factory=link.edge_socket)
        ex = SplitExecutor(model, client, edge_has_weights=False)
        print(
            f"{'Mbit/s':>7} {'delay':>6} {'cut':>5} {'emulated p50':>13} {'predicted':>10} {'error':>7}"
        )
        for bw in args.bandwidths:
            link.set_rate(bw * 1e6, bw * 1e6)
            for delay in args.delays:
                link.set_delay(delay, 0.0)
                time.sleep(0.05)
                for frac in args.cuts:
                    cut = round(frac * n_modules)
                    ex.set_cut(cut)
                    times = []
                    for i in range(args.warmup + args.runs):
                        _, timing = ex.run(inputs)
                        if i >= args.warmup:
                            times.append(timing.total_ms)
                    state = LinkState(up_mbps=bw, down_mbps=bw, delay_ms=delay)
                    pred = latency_breakdown(
                        trace, Partition.single_cut(trace, cut), cpu, cpu, state, "fp32"
                    )
                    med = float(np.median(times))
                    err = med / pred.total_ms - 1.0
                    rows.append({"up_mbps": bw, "delay_ms": delay, "cut": cut, "cut_name": trace.cut_name(cut),
                                 "emulated_p50_ms": med, "emulated_p90_ms": float(np.percentile(times, 90)),
                                 "predicted_ms": pred.total_ms, "predicted": pred.as_dict(), "rel_error": err})  # fmt: skip
                    print(
                        f"{bw:7.1f} {delay:6.1f} {cut:5d} {med:13.1f} {pred.total_ms:10.1f} {100 * err:+6.1f}%"
                    )
        client.close()
    worst = max(abs(r["rel_error"]) for r in rows)
    within = sum(abs(r["rel_error"]) <= 0.10 for r in rows)
    print(f"within 10%: {within}/{len(rows)}   worst |error|: {100 * worst:.1f}%")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"rows": rows, "link": link.describe(), "args": vars(args), "provenance": provenance()},
            indent=2,
            default=str,
        )
    )
    print(f"written: {out}")
    return 0 if within == len(rows) else 1


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("bench", "emulated_fidelity")
