"""Accuracy of every emulated link kind available here (acceptance criterion 2).

1. Transfer: time for ``--mb`` MB (1e6 bytes) from edge to cloud at 20 and 100 Mbit/s
   with ``--delay-ms`` one-way delay, against size * 8 / rate + delay. Measured from the
   edge's first send to the server holding the last byte (one clock, one process).
2. Step trace: a bulk edge -> cloud transfer while the uplink follows
   50 -> 10 -> 50 Mbit/s (``--steps``), replayed live at ``--hz``. Received bytes are
   binned every ``--bin-ms``; the lag after a step is the start of the first
   ``--window-ms`` window after it whose throughput is within ``--tol`` of the new rate.
3. Delivery schedules (issue 20, item 4): the shaper replays Mahimahi files opportunity by
   opportunity; a transfer of each of ``schedule_sizes`` bytes, sent on an empty link at a
   random point of the trace (``schedule_repeat`` times), against
   ``ecc.network.delivery_time_s`` at that send time. No delay, so the ratio is the schedule's
   own. ``tbf_userspace`` is the namespaced path (edge and cloud in network namespaces, bytes
   through a veth); ``userspace`` the loopback one.

    sudo vecc-bench bench=link_accuracy [kinds=[userspace,tbf_userspace]] [sections=[schedule]]

Fields: conf/bench/link_accuracy.yaml (the old flags map there: --delay-ms -> delay_ms).
"""

from __future__ import annotations

import logging
import random
import statistics
import threading
import time
from typing import Any

from ecc.links import LinkConfig, LinkUnavailable, StepSchedule, best_available
from ecc.links.base import Link
from ecc.links.measure import one_way_transfer_s, scheduled_transfer_s
from ecc.network import delivery_time_s, load_mahimahi_schedule
from experiments.apps import as_args


def step_response(
    link: Link, steps: list[tuple[float, float]], hz: float, bin_s: float
) -> tuple[list[float], float]:
    """Bulk-send while replaying ``steps`` [(start_s, up_bps)]; returns per-bin Mbit/s and t0."""
    srv = link.listen()
    addr = link.expose(srv.getsockname()[:2])
    total_s = steps[-1][0] + (steps[-1][0] - steps[-2][0] if len(steps) > 1 else 2.0)
    nbins = int(total_s / bin_s)
    bins = [0] * nbins
    stop = threading.Event()
    start: dict[str, float] = {}

    def serve() -> None:
        conn, _ = srv.accept()
        conn.settimeout(0.5)
        while not stop.is_set():
            try:
                data = conn.recv(1 << 16)
            except TimeoutError:
                continue
            if not data:
                break
            if "t0" in start:
                i = int((time.monotonic() - start["t0"]) / bin_s)
                if 0 <= i < nbins:
                    bins[i] += len(data)
        conn.close()

    def send(sock) -> None:
        chunk = b"x" * 65536
        try:
            while not stop.is_set():
                sock.sendall(chunk)
        except OSError:
            pass

    rx = threading.Thread(target=serve)
    rx.start()
    sock = link.edge_socket()
    sock.connect(addr)
    down = link.config.down_mbps * 1e6
    link.set_rate(steps[0][1], down)
    tx = threading.Thread(target=send, args=(sock,))
    tx.start()
    time.sleep(1.0)  # reach steady state at the first rate
    sched = StepSchedule([(t, up, down) for t, up in steps])
    runner = link.apply_trace(sched, hz=hz)
    start["t0"] = runner.t0
    time.sleep(total_s)
    link.stop_trace()
    stop.set()
    sock.close()
    tx.join(timeout=5)
    rx.join(timeout=5)
    srv.close()
    return [b * 8 / bin_s / 1e6 for b in bins], runner.t0


def lag_ms(
    mbps: list[float], bin_s: float, step_t: float, target: float, window_s: float, tol: float
) -> float | None:
    """Start (ms after the step) of the first window within ``tol`` of ``target`` Mbit/s."""
    k = max(1, round(window_s / bin_s))
    first = round(step_t / bin_s)
    for i in range(first, len(mbps) - k + 1):
        avg = sum(mbps[i : i + k]) / k
        if abs(avg - target) <= tol * target:
            return (i - first) * bin_s * 1e3
    return None


def schedule_cases(
    link: Link,
    up: str,
    down: str,
    direction: str,
    sizes: list[int],
    repeat: int,
    rng: random.Random,
) -> list[dict]:
    """Transfers of each size (bytes) through ``link`` replaying the ``up`` / ``down`` Mahimahi
    files from a random offset; each with its ``delivery_time_s`` at the same send time."""
    sched = {"up": load_mahimahi_schedule(up), "down": load_mahimahi_schedule(down)}
    period_s = sched[direction].period_ms / 1e3
    rows = []
    for nbytes in sizes:
        for _ in range(repeat):
            # start far enough before the period's end that the largest message stays in one loop
            link.set_schedules(sched["up"], sched["down"], offset_s=rng.uniform(0, 0.9 * period_s))
            send_s, took_s = scheduled_transfer_s(link, nbytes, direction)
            expected_s = float(delivery_time_s(sched[direction], nbytes, send_s))
            rows.append({"bytes": nbytes, "send_s": send_s, "emulated_ms": took_s * 1e3,
                         "expected_ms": expected_s * 1e3, "ratio": took_s / expected_s})  # fmt: skip
    return rows


def schedule_report(args: Any) -> None:
    """Section 3: emulated vs ``delivery_time_s`` per kind, trace file and size; the verdict."""
    sizes = [int(b) for b in args.schedule_sizes]
    print(
        f"\n3) delivery-schedule replay vs delivery_time_s: sizes {sizes} bytes, "
        f"{args.schedule_repeat} random send times each, no delay"
    )
    print(f"{'link':>14} {'trace file':>24} {'bytes':>8} {'n':>3} {'emulated ms':>12} "
          f"{'schedule ms':>12} {'median ratio':>13} {'worst ratio':>12}")  # fmt: skip
    rng = random.Random(args.seed)
    for kind in args.kinds:
        if kind == "netem":
            print(f"{kind:>14}  skipped: netem shapes in the kernel (no user-space FIFO to replay)")
            continue
        try:
            link, _ = best_available(LinkConfig(kind=kind))
        except LinkUnavailable as e:
            print(f"{kind:>14}  unavailable: {e}")
            continue
        ratios: list[float] = []
        size_medians: list[float] = []
        with link:
            for pair, direction in args.schedule_traces:
                up, down = f"{args.trace_dir}/{pair}.up", f"{args.trace_dir}/{pair}.down"
                rows = schedule_cases(link, up, down, direction, sizes, args.schedule_repeat, rng)
                for nbytes in sizes:
                    sel = [r for r in rows if r["bytes"] == nbytes]
                    med = statistics.median(r["ratio"] for r in sel)
                    worst = max((r["ratio"] for r in sel), key=lambda x: abs(x - 1))
                    ratios += [r["ratio"] for r in sel]
                    size_medians.append(med)
                    print(f"{kind:>14} {pair + '.' + direction:>24} {nbytes:>8} {len(sel):>3} "
                          f"{statistics.median(r['emulated_ms'] for r in sel):>12.1f} "
                          f"{statistics.median(r['expected_ms'] for r in sel):>12.1f} "
                          f"{med:>13.3f} {worst:>12.3f}")  # fmt: skip
        overall = statistics.median(ratios)
        far = max(size_medians, key=lambda x: abs(x - 1))
        verdict = "met" if abs(overall - 1) <= 0.05 else "NOT met"
        print(f"{kind:>14} median ratio over all {len(ratios)} transfers {overall:.3f} ({verdict}: within 5%); "
              f"per-size medians {min(size_medians):.3f} .. {max(size_medians):.3f} "
              f"(farthest {far:.3f}); trace replay: {link.trace_replay or 'delivery schedules'}")  # fmt: skip


def run(cfg: Any) -> None:
    """The bench app's entry (conf/bench/link_accuracy.yaml): print the chosen checks."""
    args = as_args(cfg)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if "transfer" in args.sections:
        rate_reports(args)
    if "schedule" in args.sections:
        schedule_report(args)


def rate_reports(args: Any) -> None:
    """Sections 1 and 2: transfer time at fixed rates, and the lag after rate steps."""

    nbytes = int(args.mb * 1e6)
    print(
        f"1) {args.mb:g} MB edge->cloud transfer, one-way delay {args.delay_ms:g} ms, "
        f"best and median of {args.repeat}"
    )
    print(
        f"{'link':>14} {'Mbit/s':>7} {'expected ms':>12} {'best ms':>9} {'median ms':>10} "
        f"{'err best %':>11} {'err median %':>13}"
    )
    available = []
    for kind in args.kinds:
        for rate in args.rates:
            cfg = LinkConfig(kind=kind, up_mbps=rate, down_mbps=rate, delay_ms=args.delay_ms)
            try:
                link, _ = best_available(cfg)
            except LinkUnavailable as e:
                print(f"{kind:>14}  unavailable: {e}")
                break
            with link:
                times = sorted(
                    one_way_transfer_s(link, settle_s=0.2, nbytes=nbytes) * 1e3
                    for _ in range(args.repeat)
                )
            expected = nbytes * 8 / (rate * 1e6) * 1e3 + args.delay_ms
            best, med = times[0], times[len(times) // 2]
            print(
                f"{kind:>14} {rate:>7g} {expected:>12.1f} {best:>9.1f} {med:>10.1f} "
                f"{(best - expected) / expected * 100:>+11.2f} {(med - expected) / expected * 100:>+13.2f}"
            )
        else:
            available.append(kind)

    if "step" not in args.sections:
        return
    bin_s = args.bin_ms / 1e3
    steps = [(i * args.step_s, r * 1e6) for i, r in enumerate(args.steps)]
    print(
        f"\n2) step trace {' -> '.join(f'{r:g}' for r in args.steps)} Mbit/s, "
        f"{args.step_s:g} s each, replayed at {args.hz:g} Hz; "
        f"lag = first {args.window_ms:g} ms window within {args.tol:.0%} of the new rate"
    )
    for kind in available:
        cfg = LinkConfig(kind=kind, up_mbps=args.steps[0], down_mbps=100.0, delay_ms=args.delay_ms)
        link, _ = best_available(cfg)
        with link:
            mbps, _ = step_response(link, steps, args.hz, bin_s)
        per = max(1, round(0.25 / bin_s))
        series = [sum(mbps[i : i + per]) / per for i in range(0, len(mbps) - per + 1, per)]
        print(f"{kind:>14} throughput per 250 ms (Mbit/s): " + " ".join(f"{v:.1f}" for v in series))
        for t, r in steps[1:]:
            lag = lag_ms(mbps, bin_s, t, r / 1e6, args.window_ms / 1e3, args.tol)
            lag_txt = "never" if lag is None else f"{lag:.0f} ms"
            print(f"{'':>14} step at {t:g} s to {r / 1e6:g} Mbit/s: lag {lag_txt}")


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("bench", "link_accuracy")
