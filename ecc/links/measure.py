"""Measure a link the way a user would: time a bulk transfer through it (one clock, one process)."""

from __future__ import annotations

import threading
import time

from ecc.links.base import Link


def one_way_transfer_s(
    link: Link, nbytes: int, settle_s: float = 0.1, timeout_s: float = 60.0
) -> float:
    """Seconds from the edge's first send of ``nbytes`` until the cloud-side server holds them all.

    A one-byte handshake crosses first and ``settle_s + 2 * delay`` is waited, so connection set-up
    and the first propagation delay are not part of the measurement's start.
    """
    srv = link.listen()
    addr = link.expose(srv.getsockname()[:2])
    done: dict[str, float] = {}

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(1)
        got = 0
        while got < nbytes:
            data = conn.recv(1 << 16)
            if not data:
                break
            got += len(data)
        done["t"] = time.perf_counter()
        conn.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    sock = link.edge_socket()
    try:
        sock.connect(addr)
        sock.sendall(b"h")
        time.sleep(settle_s + 2 * link.config.delay_ms / 1e3)
        t0 = time.perf_counter()
        sock.sendall(b"x" * nbytes)
        th.join(timeout=timeout_s)
    finally:
        sock.close()
        srv.close()
    if "t" not in done:
        raise TimeoutError(f"{nbytes} bytes did not arrive within {timeout_s} s")
    return done["t"] - t0
