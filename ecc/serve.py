"""Cloud server CLI: serve the cloud part of a split VLA.

    export VECC_WIRE_SECRET=...            # the same shared secret on edge and cloud
    python -m ecc.serve --checkpoint outputs/train/<run>/checkpoints/step_0002000 --port 5555
    python -m ecc.serve --shape openvla-tiny --seed 0          # random weights (latency studies)

The edge side is the main job with ``runtime=emulated`` pointing at this host and port. Weights must be
identical on both sides; the ``health`` reply's fingerprint lets the edge check that. Stops on Ctrl-C.

Every connection starts with a key exchange over the shared secret and then carries AES-256-GCM
sealed frames (wire version 2; see docs/emulation.md). Resources are bounded by the flags below
(connections, workers, timeouts, byte budgets): see ``ecc.wire.server`` for the design.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

import torch

from agents.policy import load_policy
from agents.staged import StagedModel
from agents.zoo import build_model
from ecc.emulated import StageServer
from ecc.wire.config import WireConfig
from ecc.wire.errors import WireConfigError
from ecc.wire.server import ServerConfig

log = logging.getLogger("ecc.serve")


def build_served_model(checkpoint: str | None, shape: str | None, seed: int) -> StagedModel:
    """The model to serve: a trained checkpoint, or a zoo shape with seeded random weights."""
    if checkpoint:
        return load_policy(checkpoint).model
    if shape:
        torch.manual_seed(seed)
        return build_model(shape).eval()
    raise SystemExit("ecc.serve: give --checkpoint DIR or --shape NAME (e.g. openvla-tiny)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ecc.serve", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="checkpoint directory written by experiments.train")
    src.add_argument("--shape", help="zoo shape name with random weights, e.g. openvla-tiny")
    p.add_argument("--seed", type=int, default=0, help="weight seed with --shape (default 0)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5555, help="listen port (default 5555; 0 = any)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--compression", default="none", choices=("none", "fp16", "int8"))
    d = ServerConfig()
    p.add_argument("--workers", type=int, default=d.workers, help="request worker threads")
    p.add_argument(
        "--max-connections", type=int, default=d.max_connections, help="open connections cap"
    )
    p.add_argument(
        "--handshake-timeout-s",
        type=float,
        default=d.handshake_timeout_s,
        help="seconds a peer has to authenticate",
    )
    p.add_argument(
        "--send-timeout-s",
        type=float,
        default=d.send_timeout_s,
        help="seconds a peer may leave its replies unread",
    )
    p.add_argument(
        "--max-total-mib",
        type=int,
        default=d.max_total_bytes >> 20,
        help="MiB of request bodies and queued replies held in all",
    )
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    torch.set_num_threads(args.threads)
    try:
        codec = WireConfig(compression=args.compression).codec()
        config = ServerConfig(
            max_connections=args.max_connections,
            workers=args.workers,
            handshake_timeout_s=args.handshake_timeout_s,
            send_timeout_s=args.send_timeout_s,
            max_total_bytes=args.max_total_mib << 20,
        )
    except WireConfigError as e:
        print(f"ecc.serve: {e}", file=sys.stderr)
        return 2
    model = build_served_model(args.checkpoint, args.shape, args.seed)
    server = StageServer(model, codec, host=args.host, port=args.port, config=config)
    host, port = server.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(
        f"serving {server.service.fingerprint} ({len(server.service.specs)} stages) on {host}:{port}",
        flush=True,
    )
    stop.wait()
    server.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
