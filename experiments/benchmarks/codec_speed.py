"""Encode/decode throughput of the wire codec for a boundary state (default 2 MB).

Prints one table row per compression. GB/s here is 1e9 bytes of *uncompressed state*
per second. "round trip" is size / (encode + decode time), the figure issue 22 asks for
(>= 2 GB/s); encode and decode are also shown alone. Both sides include AES-256-GCM
(authenticated encryption) of the whole frame on a handshaken channel. The last row is
msgpack-numpy (openpi's wire: no authentication, no encryption) on the same state in the
same run, for comparison.

    python -m experiments.benchmarks.codec_speed [--mb 2] [--repeat 50]
"""

from __future__ import annotations

import argparse
import time

import torch

from ecc.wire import Codec, Message, compression_report
from ecc.wire.secure import Channel


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
        t_enc, t_dec, frame_bytes = _time_sealed(codec, msg, comp, args.repeat)
        rep = compression_report(state.numpy(), kind)
        print(
            f"{kind:>11} {frame_bytes / 1e6:>9.2f} {t_enc * 1e3:>7.3f} {t_dec * 1e3:>7.3f} "
            f"{size / t_enc / 1e9:>9.2f} {size / t_dec / 1e9:>9.2f} "
            f"{size / (t_enc + t_dec) / 1e9:>16.2f} {rep.max_abs:>12.2e} {rep.rel_l2:>11.2e}"
        )
    _msgpack_numpy_row(state, tokens, size, args.repeat)


def _time_sealed(
    codec: Codec, msg: Message, comp: dict[str, str], repeat: int
) -> tuple[float, float, int]:
    """Best encode (``encode_buffers``: what the transport hands to ``sendmsg``) and decode time
    (s) on one channel pair, as after a handshake; each frame is decoded once, in order."""
    k1, k2 = bytes(range(32)), bytes(range(32, 64))
    tx, rx = Channel(k1, k2), Channel(k2, k1)
    frames = [bytearray(b"".join(codec.encode_buffers(msg, comp, tx))) for _ in range(repeat)]
    # The frames above used sequence numbers 0..repeat-1; the timed encodes take the next ones.
    t_enc = _best(lambda: codec.encode_buffers(msg, comp, tx), repeat)
    received = iter(frames)
    t_dec = _best(lambda: codec.decode(next(received), rx), repeat)
    return t_enc, t_dec, len(frames[0])


def _msgpack_numpy_row(state: torch.Tensor, tokens: int, size: int, repeat: int) -> None:
    """The same state through msgpack-numpy (no authentication, no encryption), same run."""
    try:
        import msgpack
        import msgpack_numpy
    except ImportError:
        print(
            f"{'msgpack-np':>11} not installed (pip install msgpack-numpy; it is in the test extra)"
        )
        return
    payload = {"hidden": state.numpy(), "positions": torch.arange(tokens).numpy()}
    packed = msgpack.packb(payload, default=msgpack_numpy.encode)
    t_enc = _best(lambda: msgpack.packb(payload, default=msgpack_numpy.encode), repeat)
    t_dec = _best(lambda: msgpack.unpackb(packed, object_hook=msgpack_numpy.decode), repeat)
    print(
        f"{'msgpack-np':>11} {len(packed) / 1e6:>9.2f} {t_enc * 1e3:>7.3f} {t_dec * 1e3:>7.3f} "
        f"{size / t_enc / 1e9:>9.2f} {size / t_dec / 1e9:>9.2f} "
        f"{size / (t_enc + t_dec) / 1e9:>16.2f} {'(unauthenticated, clear text)':>24}"
    )


if __name__ == "__main__":
    main()
