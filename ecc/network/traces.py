"""Bandwidth traces: piecewise-constant bandwidth over time, synthetic or recorded.

Generators (all seeded): constant, step changes, bounded random walk (in log space),
Markov-modulated good/bad states, and Mahimahi trace files (one line per 1500-byte
delivery opportunity, time in ms, looping with the last timestamp), which can be loaded
(binned, for plots and predictors), replayed and written. Transfers over any of them are
priced from delivery schedules (``ecc.network.schedule``), not from these rates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecc.errors import InvalidValueError, UnknownNameError, check_positive

MAHIMAHI_PACKET_BYTES = 1500


@dataclass(frozen=True)
class BandwidthTrace:
    """Bandwidth ``mbps[i]`` (Mbit/s) holds from ``times_s[i]`` until ``times_s[i + 1]``.

    The last segment lasts ``dt_last_s``; after ``duration_s`` the trace loops (Mahimahi
    semantics) when ``loop`` is set, else holds its last value.
    """

    times_s: np.ndarray
    mbps: np.ndarray
    dt_last_s: float = 1.0
    loop: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.times_s) != len(self.mbps) or len(self.mbps) == 0:
            raise InvalidValueError(
                "trace length", (len(self.times_s), len(self.mbps)), "equal and > 0"
            )
        if np.any(np.diff(self.times_s) <= 0):
            raise InvalidValueError("times_s", "not increasing", "strictly increasing times")
        if np.any(~np.isfinite(self.mbps)) or np.any(self.mbps < 0):
            raise InvalidValueError("mbps", float(np.min(self.mbps)), "finite values >= 0")

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1] - self.times_s[0] + self.dt_last_s)

    def at(self, t_s: float | np.ndarray) -> np.ndarray | float:
        """Bandwidth in Mbit/s at time(s) ``t_s``."""
        t = np.asarray(t_s, dtype=float) - self.times_s[0]
        t = np.mod(t, self.duration_s) if self.loop else np.clip(t, 0, None)
        i = np.searchsorted(self.times_s - self.times_s[0], t, side="right") - 1
        out = self.mbps[np.clip(i, 0, len(self.mbps) - 1)]
        return float(out) if np.ndim(t_s) == 0 else out

    def mean_mbps(self) -> float:
        """Time-weighted mean bandwidth in Mbit/s."""
        dts = np.diff(np.append(self.times_s, self.times_s[-1] + self.dt_last_s))
        return float(np.sum(dts * self.mbps) / np.sum(dts))

    def scaled(self, factor: float) -> BandwidthTrace:
        """The same trace with every bandwidth multiplied by ``factor``."""
        return BandwidthTrace(
            self.times_s, self.mbps * factor, self.dt_last_s, self.loop, self.name
        )


def _grid(duration_s: float, dt_s: float) -> np.ndarray:
    check_positive("duration_s", duration_s)
    check_positive("dt_s", dt_s)
    return np.arange(0.0, duration_s, dt_s)


def constant(mbps: float, duration_s: float = 60.0) -> BandwidthTrace:
    """Constant bandwidth."""
    check_positive("mbps", mbps)
    return BandwidthTrace(
        np.array([0.0]), np.array([float(mbps)]), duration_s, name=f"constant{mbps:g}"
    )


def step(levels_mbps: list[float], period_s: float, duration_s: float = 60.0) -> BandwidthTrace:
    """Cycle through ``levels_mbps``, holding each for ``period_s``."""
    if not levels_mbps:
        raise InvalidValueError("levels_mbps", levels_mbps, "a non-empty list of Mbit/s")
    for v in levels_mbps:
        check_positive("levels_mbps[]", v)
    t = _grid(duration_s, period_s)
    vals = np.array([levels_mbps[i % len(levels_mbps)] for i in range(len(t))], dtype=float)
    return BandwidthTrace(t, vals, period_s, name="step")


def random_walk(
    start_mbps: float,
    sigma: float = 0.1,
    min_mbps: float = 1.0,
    max_mbps: float = 1000.0,
    dt_s: float = 0.1,
    duration_s: float = 60.0,
    seed: int = 0,
) -> BandwidthTrace:
    """Random walk of log-bandwidth (``sigma`` per step, natural log), reflected into bounds."""
    check_positive("start_mbps", start_mbps)
    if not 0 < min_mbps <= start_mbps <= max_mbps:
        raise InvalidValueError(
            "start_mbps", start_mbps, f"within [min_mbps={min_mbps}, max_mbps={max_mbps}]"
        )
    t = _grid(duration_s, dt_s)
    rng = np.random.default_rng(seed)
    lo, hi = np.log(min_mbps), np.log(max_mbps)
    x = np.empty(len(t))
    x[0] = np.log(start_mbps)
    steps = rng.normal(0.0, sigma, len(t))
    for i in range(1, len(t)):
        v = x[i - 1] + steps[i]
        v = 2 * lo - v if v < lo else v  # reflect so the walk does not stick to a bound
        x[i] = min(2 * hi - v if v > hi else v, hi)
    return BandwidthTrace(t, np.exp(x), dt_s, name="random_walk")


def markov(
    good_mbps: float,
    bad_mbps: float,
    p_good_to_bad: float = 0.05,
    p_bad_to_good: float = 0.1,
    dt_s: float = 0.5,
    duration_s: float = 120.0,
    noise: float = 0.1,
    seed: int = 0,
) -> BandwidthTrace:
    """Two-state (good/bad) Markov-modulated bandwidth with log-normal noise ``noise``."""
    check_positive("good_mbps", good_mbps)
    check_positive("bad_mbps", bad_mbps)
    for n, p in (("p_good_to_bad", p_good_to_bad), ("p_bad_to_good", p_bad_to_good)):
        if not 0 <= p <= 1:
            raise InvalidValueError(n, p, "[0, 1]")
    t = _grid(duration_s, dt_s)
    rng = np.random.default_rng(seed)
    state = np.zeros(len(t), dtype=bool)  # True: bad
    u = rng.random(len(t))
    for i in range(1, len(t)):
        state[i] = (u[i] >= p_bad_to_good) if state[i - 1] else (u[i] < p_good_to_bad)
    base = np.where(state, bad_mbps, good_mbps)
    return BandwidthTrace(t, base * np.exp(rng.normal(0.0, noise, len(t))), dt_s, name="markov")


def write_mahimahi(trace: BandwidthTrace, path: str | os.PathLike) -> Path:
    """Write ``trace`` (one period) as Mahimahi delivery opportunities, one per line.

    The credit accrued during ms ``i`` is delivered at ms ``i + 1``, and the last line is the
    trace's duration, so ``mm-link`` loops with the trace's period.
    """
    total_ms = round(trace.duration_s * 1e3)
    t = np.arange(total_ms) / 1e3 + trace.times_s[0]
    bytes_per_ms = np.asarray(trace.at(t)) * 1e6 / 8 / 1e3
    credit = np.cumsum(bytes_per_ms) / MAHIMAHI_PACKET_BYTES
    n_per_ms = np.diff(np.floor(np.concatenate([[0.0], credit]))).astype(np.int64)
    lines = np.repeat(np.arange(1, total_ms + 1), n_per_ms)
    if len(lines) == 0:
        raise InvalidValueError("trace", trace.name, "bandwidth high enough for one packet")
    lines[-1] = total_ms  # the period is the last timestamp
    out = Path(path)
    out.write_text("\n".join(map(str, lines.tolist())) + "\n")
    return out


# A recorded Mahimahi file is a schedule first: ecc.network.schedule.load_mahimahi bins one.
GENERATORS = {"constant": constant, "step": step, "random_walk": random_walk, "markov": markov}


def make_trace(kind: str, **kwargs) -> BandwidthTrace:
    """Build a trace by generator name (Hydra-friendly)."""
    if kind not in GENERATORS:
        raise UnknownNameError("trace.kind", kind, GENERATORS)
    return GENERATORS[kind](**kwargs)
