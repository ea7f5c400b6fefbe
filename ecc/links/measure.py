"""Measure a link the way a user would: time a bulk transfer through it (one clock, one process)."""

from __future__ import annotations

import math
import socket
import threading
import time

from ecc.links.base import Link
from ecc.links.errors import LinkConfigError


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


def scheduled_transfer_s(
    link: Link, nbytes: int, direction: str = "up", timeout_s: float = 120.0
) -> tuple[float, float]:
    """(schedule time of the send, seconds until the receiver holds all ``nbytes``) on a link
    replaying delivery schedules (``Link.set_schedules``).

    ``up``: the edge sends to the cloud-side server; ``down``: the server sends to the edge. A
    one-byte handshake crosses the uplink first, and the send waits until the sending
    direction's FIFO is empty, so the transfer starts on an empty link, as
    ``ecc.network.delivery_time_s`` assumes. Both ends are in this process: one clock.
    """
    if direction not in ("up", "down"):
        raise LinkConfigError("direction", direction, "'up' or 'down'")
    clock = link.clocks.get(direction)
    if clock is None:
        raise LinkConfigError("link.clocks", sorted(link.clocks), "a link replaying schedules")
    srv = link.listen()
    addr = link.expose(srv.getsockname()[:2])
    srv.settimeout(timeout_s)
    shook = threading.Event()
    got_all: dict[str, float] = {}
    payload = b"x" * nbytes

    def receive(sock: socket.socket) -> None:
        got = 0
        while got < nbytes:
            data = sock.recv(1 << 16)
            if not data:
                return
            got += len(data)
        got_all["t"] = time.monotonic()

    def wait_idle() -> float:
        while (idle := clock.idle_at()) > time.monotonic():
            time.sleep(min(idle - time.monotonic(), 0.5) + 1e-4)
        return time.monotonic()

    def serve(out: dict) -> None:
        conn, _ = srv.accept()
        out["conn"] = conn
        conn.settimeout(timeout_s)
        conn.recv(1)
        shook.set()
        if direction == "up":
            receive(conn)
        else:
            out["t0"] = wait_idle()
            conn.sendall(payload)

    side: dict = {}
    th = threading.Thread(target=serve, args=(side,), daemon=True)
    th.start()
    sock = link.edge_socket()
    try:
        sock.settimeout(timeout_s)
        sock.connect(addr)
        sock.sendall(b"h")
        if not shook.wait(timeout_s):
            raise TimeoutError(f"the handshake did not cross within {timeout_s} s")
        if direction == "up":
            t0 = wait_idle()
            sock.sendall(payload)
            th.join(timeout=timeout_s)
        else:
            receive(sock)
            th.join(timeout=timeout_s)
            t0 = side.get("t0", math.nan)
    finally:
        sock.close()
        if "conn" in side:
            side["conn"].close()
        srv.close()
    if "t" not in got_all:
        raise TimeoutError(f"{nbytes} bytes did not arrive ({direction}) within {timeout_s} s")
    return clock.schedule_s(t0), got_all["t"] - t0
