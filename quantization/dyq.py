"""DyQ-VLA: activation precision chosen per inference from kinematic proxies.

Weights are INT4 once (``quantize_model`` with ``name: dyq``); this controller only
picks the activation bits (16 = BF16, 8, 4, 2) of the next inference from the
policy's own 7-D actions, in pure numpy:

- motion fineness ``M_t = 1 - ||a_t^xyz|| / mu_max`` (``mu_max``: ``percentile`` of past
  translation magnitudes), averaged over the last ``w_macro`` steps;
- angular jerk ``J_t = ||a_t^rot - a_{t-1}^rot|| / nu_max`` (``nu_max``: percentile of past
  rotation-change magnitudes), averaged over the last ``w_micro`` steps;
- score ``S_t = max(0, lam * M~ + (1 - lam) * J~)``;
- ``S_t > theta_fp`` -> BF16, else lookup ``2 | 4 | 8`` by ``thresholds``;
- asymmetric hysteresis (paper's Algorithm 1): raising precision is immediate; lowering
  happens only once a lower level has been requested ``hysteresis_k`` consecutive times,
  and then to the highest level requested during those steps.

History lives in fixed-size numpy ring buffers (``history`` steps), so memory is
bounded (``history_bytes``; the paper reports < 64 KB).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from quantization.config import DyQConfig
from quantization.errors import CalibrationError, QuantConfigError
from quantization.linear import quant_linears

LEVELS = (2, 4, 8, 16)


class _Ring:
    """Fixed-capacity float64 ring buffer."""

    def __init__(self, capacity: int) -> None:
        self.buf = np.zeros(capacity, dtype=np.float64)
        self.n = 0  # total pushed

    def push(self, v: float) -> None:
        self.buf[self.n % len(self.buf)] = v
        self.n += 1

    def values(self) -> np.ndarray:
        return self.buf[: min(self.n, len(self.buf))]

    def last(self, k: int) -> np.ndarray:
        m = min(self.n, k, len(self.buf))
        idx = (self.n - 1 - np.arange(m)) % len(self.buf)
        return self.buf[idx]

    def mean(self) -> float:
        vals = self.values()
        return float(vals.sum()) / len(vals) if len(vals) else 0.0

    def clear(self) -> None:
        self.n = 0


def _percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) via a partial sort: O(n)."""
    n = len(values)
    rank = q / 100.0 * (n - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, n - 1)
    part = np.partition(values, (lo, hi))
    return float(part[lo] + (part[hi] - part[lo]) * (rank - lo))


@dataclass(frozen=True)
class ProxyScores:
    """Kinematic proxies of one step: fineness ``m``, jerk ``j`` (window means), score ``s``."""

    m: float
    j: float
    s: float


def lookup_bits(score: float, thresholds: Sequence[float], theta_fp: float) -> int:
    """``Phi(S)``: 16 above ``theta_fp``; else 2 on [0, th_2|4], 4 up to th_4|8, then 8.

    A threshold of 0 leaves its band empty: calibration returns 0 when even the lowest-score
    bin violates the error bound, and a motionless step (S = 0) must not then get that width.
    """
    if score > theta_fp:
        return 16
    if thresholds[0] > 0 and score <= thresholds[0]:
        return 2
    if thresholds[1] > 0 and score <= thresholds[1]:
        return 4
    return 8


class DyQController:
    """Chooses activation bits per inference from the executed 7-D actions.

    Call :meth:`update` with every executed action (or a chunk of them, in order);
    it returns the bits the next inference should run at. :meth:`bind` a model and
    ``update`` also sets those bits on its ``QuantLinear`` layers.
    """

    def __init__(self, cfg: DyQConfig | None = None) -> None:
        self.cfg = cfg or DyQConfig()
        c = self.cfg
        if len(c.xyz_slice) != 2 or len(c.rot_slice) != 2:
            raise QuantConfigError(
                "dyq.xyz_slice/rot_slice", (c.xyz_slice, c.rot_slice), "[start, stop] pairs"
            )
        if c.warmup_bits not in LEVELS:
            raise QuantConfigError("dyq.warmup_bits", c.warmup_bits, LEVELS)
        self._trans = _Ring(c.history)
        self._jerk = _Ring(c.history)
        # Window rings hold exactly the averaging window, so their mean is M~ / J~.
        self._m = _Ring(c.w_macro)
        self._j = _Ring(c.w_micro)
        self._prev_rot: list[float] | None = None
        self._layers: list = []
        self._applied: int | None = None
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Start a new episode: clear proxy windows, hysteresis and the timeline.

        Magnitude history (``mu_max`` / ``nu_max``) is kept across episodes: the paper's
        percentiles are over past motion, and a fresh episode would otherwise start blind.
        """
        self._m.clear()
        self._j.clear()
        self._prev_rot = None
        self.bits = self.cfg.warmup_bits
        self._pending: list[int] = []
        self.timeline: list[int] = []
        self.scores: list[float] = []
        self.last = ProxyScores(0.0, 0.0, 0.0)
        self._apply()

    def bind(self, model) -> DyQController:
        """Set ``act_bits`` of ``model``'s QuantLinear layers on every decision.

        The layer list is collected once here; re-bind after changing the model.
        """
        self._layers = quant_linears(model)
        self._applied = None
        self._apply()
        return self

    def _apply(self) -> None:
        if self._layers and self._applied != self.bits:  # only on a switch
            for layer in self._layers:
                layer.act_bits = self.bits
            self._applied = self.bits

    def history_bytes(self) -> int:
        """Bytes of the bounded history buffers (bytes); excludes the episode timeline."""
        return sum(r.buf.nbytes for r in (self._trans, self._jerk, self._m, self._j)) + 8 * 3

    # ------------------------------------------------------------------ proxies
    def observe(self, action: np.ndarray) -> ProxyScores:
        """Fold one executed action (length >= 6) into the proxies; returns the new scores."""
        c = self.cfg
        # Plain floats: for 3-vectors Python arithmetic beats numpy's per-call overhead.
        a = action.tolist() if isinstance(action, np.ndarray) else list(action)
        xyz = a[c.xyz_slice[0] : c.xyz_slice[1]]
        rot = a[c.rot_slice[0] : c.rot_slice[1]]
        trans = math.sqrt(sum(v * v for v in xyz))
        self._trans.push(trans)
        mu_max = _percentile(self._trans.values(), c.percentile)
        self._m.push(1.0 - trans / mu_max if mu_max > 1e-12 else 0.0)
        if self._prev_rot is not None:
            jerk = math.sqrt(sum((r - p) ** 2 for r, p in zip(rot, self._prev_rot)))
            self._jerk.push(jerk)
            nu_max = _percentile(self._jerk.values(), c.percentile)
            self._j.push(jerk / nu_max if nu_max > 1e-12 else 0.0)
        self._prev_rot = rot
        m = self._m.mean()
        j = self._j.mean() if self._j.n else 0.0
        s = max(0.0, c.lam * m + (1.0 - c.lam) * j)
        self.last = ProxyScores(m, j, s)
        return self.last

    # ------------------------------------------------------------------ decision
    def decide(self, score: float) -> int:
        """Apply lookup + asymmetric hysteresis to a score; returns the new bits."""
        c = self.cfg
        target = lookup_bits(score, c.thresholds, c.theta_fp)
        if target > self.bits:  # up at once
            self.bits = target
            self._pending.clear()
        elif target < self.bits:  # down only after K consecutive lower requests
            self._pending.append(target)
            if len(self._pending) >= c.hysteresis_k:
                self.bits = max(self._pending[-c.hysteresis_k :])
                self._pending.clear()
        else:
            self._pending.clear()
        return self.bits

    def update(self, actions: np.ndarray) -> int:
        """Observe executed action(s) ``[7]`` or ``[T, 7]``; decide the next inference's bits."""
        a = np.asarray(actions, dtype=np.float64)
        if a.ndim == 1:
            self.observe(a)
        else:
            for row in a.reshape(-1, a.shape[-1]):
                self.observe(row)
        if self._trans.n < self.cfg.min_history:
            bits = self.bits  # not enough motion history: stay at warm-up precision
        else:
            bits = self.decide(self.last.s)
        self.timeline.append(bits)
        self.scores.append(self.last.s)
        self._apply()
        return bits

    def histogram(self) -> dict[int, float]:
        """Fraction of this episode's decisions at each precision."""
        return precision_histogram(self.timeline)


def precision_histogram(timeline: Iterable[int]) -> dict[int, float]:
    """Fraction of decisions at each of 2/4/8/16 bits (all levels present, summing to 1)."""
    t = list(timeline)
    if not t:
        return dict.fromkeys(LEVELS, 0.0)
    return {b: t.count(b) / len(t) for b in LEVELS}


def replay_scores(actions: np.ndarray, cfg: DyQConfig | None = None) -> np.ndarray:
    """Proxy score ``S_t`` of every step of one episode's executed actions ``[T, 7]``."""
    ctrl = DyQController(cfg)
    return np.array([ctrl.observe(a).s for a in np.asarray(actions)])


def error_bound(score: np.ndarray, D: float, eta: float) -> np.ndarray:
    """Tolerated action error ``eps(S) = D / (S + eta)`` (action units)."""
    return D / (np.asarray(score, dtype=np.float64) + eta)


def crossing_threshold(
    scores: np.ndarray, errors: np.ndarray, D: float, eta: float, theta_fp: float, bins: int = 10
) -> float:
    """Score at which a precision's mean action error first exceeds ``eps(S)``.

    Steps are sorted by score and split into ``bins`` equal-count bins; the threshold
    is the upper score edge of the last bin before the first violating one (0 if the
    first bin already violates, ``theta_fp`` if none does).
    """
    order = np.argsort(scores)
    s_sorted, e_sorted = np.asarray(scores)[order], np.asarray(errors)[order]
    edges = 0.0
    for chunk_s, chunk_e in zip(np.array_split(s_sorted, bins), np.array_split(e_sorted, bins)):
        if len(chunk_s) == 0:
            continue
        if chunk_e.mean() > error_bound(chunk_s, D, eta).mean():
            return float(min(edges, theta_fp))
        edges = float(chunk_s.max())
    return float(theta_fp)


def calibrate_thresholds(
    scores: np.ndarray,
    errors: dict[int, np.ndarray],
    cfg: DyQConfig | None = None,
    bins: int = 10,
) -> list[float]:
    """``[th_2|4, th_4|8]`` from per-step scores and per-precision action errors.

    ``errors[b][t]`` is the action error at step ``t`` when activations run at ``b`` bits
    instead of BF16, on successful trajectories. Below ``th_2|4`` INT2's error stays within
    ``eps(S) = D / (S + eta)``; below ``th_4|8`` INT4's does.
    """
    cfg = cfg or DyQConfig()
    scores = np.asarray(scores, dtype=np.float64)
    for b in (2, 4):
        if b not in errors:
            raise CalibrationError(f"errors must contain bits {b}; got {sorted(errors)}")
        if len(errors[b]) != len(scores):
            raise CalibrationError(
                f"errors[{b}] has {len(errors[b])} steps but scores has {len(scores)}"
            )
    if len(scores) < bins:
        raise CalibrationError(f"need at least bins={bins} steps, got {len(scores)}")
    th24 = crossing_threshold(scores, errors[2], cfg.calib_D, cfg.calib_eta, cfg.theta_fp, bins)
    th48 = crossing_threshold(scores, errors[4], cfg.calib_D, cfg.calib_eta, cfg.theta_fp, bins)
    return [min(th24, th48), th48]
