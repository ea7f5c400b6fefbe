"""Bandwidth estimation from observed transfers and next-bandwidth predictors.

Each remote call gives one sample ``bytes / (RTT - remote compute)`` (RoboECC). Predictors
take samples (Mbit/s) one at a time and forecast the next: last value, moving average,
EWMA, or RoboECC's one-layer LSTM (``ecc.network.lstm``).
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import numpy as np

from ecc.errors import InvalidValueError, UnknownNameError, check_positive


def effective_bandwidth_mbps(
    nbytes: float, rtt_ms: float, remote_ms: float, base_rtt_ms: float = 0.0
) -> float:
    """Bandwidth sample (Mbit/s) from one call: ``bytes * 8 / (RTT - remote compute - base RTT)``.

    ``base_rtt_ms`` (the propagation round trip, e.g. the minimum RTT seen) is 0 in
    RoboECC's formula; subtracting it removes the bias of small messages.
    """
    check_positive("nbytes", nbytes)
    net_ms = rtt_ms - remote_ms - base_rtt_ms
    if net_ms <= 0:
        raise InvalidValueError("rtt_ms - remote_ms - base_rtt_ms", net_ms, "> 0 ms")
    return nbytes * 8 / (net_ms * 1e3)


class BandwidthPredictor(Protocol):
    """Online forecaster of the next bandwidth sample (Mbit/s)."""

    def update(self, sample_mbps: float) -> None: ...

    def predict(self) -> float | None:
        """Forecast in Mbit/s, or None before the first sample."""
        ...


class LastValuePredictor:
    """Predict the last sample."""

    def __init__(self) -> None:
        self._last: float | None = None

    def update(self, sample_mbps: float) -> None:
        self._last = float(sample_mbps)

    def predict(self) -> float | None:
        return self._last


SPACES = ("linear", "log")


def _to(space: str, v: float) -> float:
    return float(np.log(max(v, 1e-9))) if space == "log" else float(v)


def _from(space: str, v: float) -> float:
    return float(np.exp(v)) if space == "log" else float(v)


class MovingAveragePredictor:
    """Mean of the last ``window`` samples.

    ``space="log"`` averages log-bandwidth (a geometric mean): a drop from 100 to
    0.3 Mbit/s then shows at once, where a linear mean stays near 50 Mbit/s for a whole
    window although transfer time scales with 1 / bandwidth.
    """

    def __init__(self, window: int = 5, space: str = "log") -> None:
        if window < 1:
            raise InvalidValueError("window", window, ">= 1")
        if space not in SPACES:
            raise UnknownNameError("space", space, SPACES)
        self.space = space
        self._buf: deque[float] = deque(maxlen=window)

    def update(self, sample_mbps: float) -> None:
        self._buf.append(_to(self.space, sample_mbps))

    def predict(self) -> float | None:
        return _from(self.space, float(np.mean(self._buf))) if self._buf else None


class EWMAPredictor:
    """Exponentially weighted moving average, weight ``alpha`` on the newest sample.

    ``space`` as for :class:`MovingAveragePredictor` (default log).
    """

    def __init__(self, alpha: float = 0.5, space: str = "log") -> None:
        if not 0 < alpha <= 1:
            raise InvalidValueError("alpha", alpha, "(0, 1]")
        if space not in SPACES:
            raise UnknownNameError("space", space, SPACES)
        self.alpha, self.space = alpha, space
        self._v: float | None = None

    def update(self, sample_mbps: float) -> None:
        s = _to(self.space, sample_mbps)
        self._v = s if self._v is None else self.alpha * s + (1 - self.alpha) * self._v

    def predict(self) -> float | None:
        return None if self._v is None else _from(self.space, self._v)


def make_predictor(kind: str, **kwargs) -> BandwidthPredictor:
    """Predictor by name: last, moving_average, ewma, lstm (``checkpoint=`` path)."""
    if kind == "last":
        return LastValuePredictor()
    if kind == "moving_average":
        return MovingAveragePredictor(**kwargs)
    if kind == "ewma":
        return EWMAPredictor(**kwargs)
    if kind == "lstm":
        # lazy: the LSTM is the one predictor that needs torch; the others are numpy only
        from ecc.network.lstm import LSTMPredictor

        ckpt = kwargs.pop("checkpoint", None)
        return LSTMPredictor.load(ckpt) if ckpt else LSTMPredictor(**kwargs)
    raise UnknownNameError("predictor", kind, ("last", "moving_average", "ewma", "lstm"))


def check_sample(sample_mbps: float) -> float:
    """Validate one bandwidth sample (Mbit/s)."""
    return check_positive("sample_mbps", sample_mbps)
