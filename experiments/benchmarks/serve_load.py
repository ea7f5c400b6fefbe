"""Load benchmark: N concurrent edge clients against one cloud stage server for a fixed duration.

    python experiments/benchmarks/serve_load.py --clients 8 --seconds 60 --shape openvla-tiny

The server is a separate `python -m ecc.serve` process; each client is its own process running the
edge part of the split model and sending boundary states over loopback TCP (wire v2: a handshake
per connection, then AES-256-GCM sealed frames). Prints per-inference latency p50/p99 (ms),
throughput, the error count and the load average (other processes' load moves every figure).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ecc.wire import Codec
from ecc.wire.server_config import ServerConfig
from ecc.wire.transport import Client, TransportConfig, free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "load-benchmark-shared-secret-0123456789"


def _client(
    idx: int, port: int, shape: str, cut_frac: float, seconds: float, out: mp.Queue
) -> None:
    # lazy: each client process loads torch itself, single-threaded; the parent stays torch-free
    import torch

    torch.set_num_threads(1)
    from agents.zoo import build_model  # lazy, as torch above: both load torch
    from ecc.emulated import SplitExecutor, module_order

    torch.manual_seed(0)
    model = build_model(shape).eval()
    s = model.shape
    g = torch.Generator().manual_seed(idx)
    size = s.vision[0].image_size
    inputs = {
        "images": torch.rand(1, s.cameras, 3, size, size, generator=g),
        "tokens": torch.randint(0, 100, (1, s.prompt_tokens), generator=g),
        "proprio": torch.randn(1, s.proprio_dim, generator=g),
        "noise": torch.randn(1, s.head.chunk, s.head.action_dim, generator=g),
    }
    cfg = TransportConfig(connect_timeout_s=5.0, read_timeout_s=30.0, retries=3)
    client = Client(("127.0.0.1", port), Codec(SECRET), cfg)
    ex = SplitExecutor(model, client, edge_has_weights=False)
    ex.set_cut(int(len(module_order(model.stages())) * cut_frac))
    lat, errors, fallbacks = [], 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            _, timing = ex.run(inputs)
            lat.append(timing.total_ms)
            fallbacks += int(timing.fallback)
        except Exception:
            errors += 1
    client.close()
    out.put((idx, lat, errors, fallbacks))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--shape", default="openvla-tiny")
    ap.add_argument(
        "--cut-frac", type=float, default=0.5, help="cut after this fraction of modules"
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=ServerConfig().workers,
        help="server request workers (default: the server's own default)",
    )
    args = ap.parse_args()
    port = free_port()
    env = {**os.environ, "VECC_WIRE_SECRET": SECRET}
    server = subprocess.Popen(
        [sys.executable, "-m", "ecc.serve", "--shape", args.shape, "--port", str(port), "--log-level", "WARNING", "--workers", str(args.workers)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    print(server.stdout.readline().strip())
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(i, port, args.shape, args.cut_frac, args.seconds, q))
        for i in range(args.clients)
    ]
    for p in procs:
        p.start()
    results = [q.get(timeout=args.seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    server.terminate()
    server.wait(timeout=10)
    all_lat = np.concatenate([np.asarray(r[1]) for r in results if r[1]])
    errors = sum(r[2] for r in results)
    fallbacks = sum(r[3] for r in results)
    load = os.getloadavg()
    print(
        f"cores: {os.cpu_count()}  clients: {args.clients}  duration: {args.seconds:.0f} s  "
        f"shape: {args.shape}  server workers: {args.workers}  "
        f"load average (1/5 min) at the end: {load[0]:.1f}/{load[1]:.1f}"
    )
    print(
        f"inferences: {all_lat.size}  ({all_lat.size / args.seconds:.1f}/s)  errors: {errors}  fallbacks: {fallbacks}"
    )
    print(
        f"latency ms: p50 {np.percentile(all_lat, 50):.1f}  p99 {np.percentile(all_lat, 99):.1f}  "
        f"mean {all_lat.mean():.1f}  max {all_lat.max():.1f}"
    )
    for idx, lat, err, _ in sorted(results):
        print(
            f"  client {idx}: {len(lat)} inferences, p50 {np.percentile(lat, 50):.1f} ms, errors {err}"
        )
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
