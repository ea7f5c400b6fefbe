"""RoboECC's bandwidth predictor: a one-layer LSTM (hidden 32) over the last 20 samples.

Works in log-bandwidth, standardised with the training trace's mean / std, and predicts
the next sample. Checkpoints are safetensors files (weights) with the hyper-parameters in
the safetensors metadata, so loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ecc.errors import InvalidValueError


class _Net(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, num_layers=1, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, window] standardised log-bandwidth -> [B] next value."""
        h, _ = self.lstm(x.unsqueeze(-1))
        return self.out(h[:, -1]).squeeze(-1)


class LSTMPredictor:
    """Online LSTM forecaster of bandwidth in Mbit/s."""

    def __init__(
        self, window: int = 20, hidden: int = 32, mu: float = 0.0, sigma: float = 1.0
    ) -> None:
        if window < 2:
            raise InvalidValueError("window", window, ">= 2")
        if hidden < 1:
            raise InvalidValueError("hidden", hidden, ">= 1")
        self.window, self.hidden, self.mu, self.sigma = window, hidden, float(mu), float(sigma)
        self.net = _Net(hidden)
        self._buf: deque[float] = deque(maxlen=window)

    def _norm(self, mbps: np.ndarray) -> np.ndarray:
        return (np.log(np.maximum(mbps, 1e-3)) - self.mu) / self.sigma

    def update(self, sample_mbps: float) -> None:
        self._buf.append(float(sample_mbps))

    @torch.no_grad()
    def predict(self) -> float | None:
        if not self._buf:
            return None
        vals = list(self._buf)
        vals = [vals[0]] * (self.window - len(vals)) + vals  # pad the warm-up with the first sample
        x = torch.tensor(self._norm(np.array(vals)), dtype=torch.float32)[None]
        z = float(self.net(x)[0])
        return float(np.exp(z * self.sigma + self.mu))

    def save(self, path: str | os.PathLike) -> Path:
        """Write weights and hyper-parameters to a safetensors file."""
        meta = {"window": self.window, "hidden": self.hidden, "mu": self.mu, "sigma": self.sigma}
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        save_file(self.net.state_dict(), str(out), metadata={"lstm_predictor": json.dumps(meta)})
        return out

    @classmethod
    def load(cls, path: str | os.PathLike) -> LSTMPredictor:
        """Load a checkpoint written by :meth:`save`."""
        from safetensors import safe_open

        p = Path(path)
        if not p.is_file():
            raise InvalidValueError("checkpoint", str(p), "an existing .safetensors file")
        with safe_open(str(p), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("lstm_predictor", "null") or "null")
        if not meta:
            raise InvalidValueError("checkpoint", str(p), "a file written by LSTMPredictor.save")
        pred = cls(**meta)
        pred.net.load_state_dict(load_file(str(p)))
        return pred


def train_lstm(
    samples_mbps: np.ndarray,
    window: int = 20,
    hidden: int = 32,
    epochs: int = 30,
    lr: float = 1e-2,
    batch: int = 64,
    seed: int = 0,
) -> tuple[LSTMPredictor, dict[str, float]]:
    """Fit a predictor on a bandwidth series (one sample per decision, Mbit/s).

    Returns the predictor and ``{"train_mse": ..., "naive_mse": ...}`` in standardised
    log units (naive: predict the last value).
    """
    x = np.asarray(samples_mbps, dtype=float)
    if len(x) < window + 2:
        raise InvalidValueError("samples_mbps", len(x), f">= window + 2 = {window + 2} samples")
    torch.manual_seed(seed)
    logx = np.log(np.maximum(x, 1e-3))
    pred = LSTMPredictor(window, hidden, float(logx.mean()), float(logx.std() + 1e-6))
    z = torch.tensor(pred._norm(x), dtype=torch.float32)
    xs = z.unfold(0, window, 1)[:-1]
    ys = z[window:]
    opt = torch.optim.Adam(pred.net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(xs), generator=gen)
        for i in range(0, len(xs), batch):
            idx = perm[i : i + batch]
            loss = nn.functional.mse_loss(pred.net(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        mse = float(nn.functional.mse_loss(pred.net(xs), ys))
    naive = float(nn.functional.mse_loss(xs[:, -1], ys))
    return pred, {"train_mse": mse, "naive_mse": naive}
