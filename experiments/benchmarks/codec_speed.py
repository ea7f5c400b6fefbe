"""Encode/decode throughput of the wire codec for a boundary state (default 2 MB).

Prints one table row per compression. GB/s here is 1e9 bytes of *uncompressed state*
per second. "round trip" is size / (encode + decode time), the figure acceptance
criterion 3 asks for (>= 1 GB/s); encode and decode are also shown alone. Both sides
include HMAC-SHA256 over the whole frame, which dominates the cost.

    python experiments/benchmarks/codec_speed.py [--mb 2] [--repeat 50]
"""

from __future__ import annotations

import argparse
import time

import torch

from ecc.wire import Codec, Message, compression_report


def _best(fn, repeat: int) -> float:
    """Best-of-``repeat`` wall time (s); the minimum filters out other processes' load."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=2.0, help="state size (MiB of float32)")
    parser.add_argument("--hidden", type=int, default=1024, help="hidden size (last axis)")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)

    tokens = int(args.mb * 2**20 / 4 / args.hidden)
    state = torch.randn(1, tokens, args.hidden)
    msg = Message("state", 1, {"hidden": state, "positions": torch.arange(tokens)})
    codec = Codec(b"benchmark-secret-0123456789")
    size = state.numel() * 4

    print(
        f"state [1, {tokens}, {args.hidden}] float32 = {size / 1e6:.2f} MB; best of {args.repeat}"
    )
    print(
        f"{'compression':>11} {'frame MB':>9} {'enc ms':>7} {'dec ms':>7} {'enc GB/s':>9} "
        f"{'dec GB/s':>9} {'round trip GB/s':>16} {'max abs err':>12} {'rel L2 err':>11}"
    )
    for kind in ("none", "fp16", "int8"):
        comp = {"hidden": kind}
        frame = b"".join(codec.encode_buffers(msg, comp))
        t_enc = _best(lambda c=comp: codec.encode_buffers(msg, c), args.repeat)
        # A received frame lives in a bytearray (see transport.recv); decode from one too.
        buf = bytearray(frame)
        t_dec = _best(lambda b=buf: codec.decode(b), args.repeat)
        rep = compression_report(state.numpy(), kind)
        print(
            f"{kind:>11} {len(frame) / 1e6:>9.2f} {t_enc * 1e3:>7.3f} {t_dec * 1e3:>7.3f} "
            f"{size / t_enc / 1e9:>9.2f} {size / t_dec / 1e9:>9.2f} "
            f"{size / (t_enc + t_dec) / 1e9:>16.2f} {rep.max_abs:>12.2e} {rep.rel_l2:>11.2e}"
        )


if __name__ == "__main__":
    main()
