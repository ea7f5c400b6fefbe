"""Train RoboECC's LSTM bandwidth predictor on a bandwidth trace and save a checkpoint.

    vecc-tool tool=train_bw_predictor trace=markov out=outputs/bw_lstm.safetensors
    vecc-tool tool=train_bw_predictor trace=mahimahi mahimahi_path=up.trace

Fields: conf/tool/train_bw_predictor.yaml (the old flags map there: --duration-s -> duration_s).

The trace is sampled every ``interval_s`` (one sample per action generation), split
70/30 in time; the LSTM trains on the first part. Printed: one-step-ahead error on the
held-out part for the LSTM, EWMA, moving average and last value (RMSE of log bandwidth,
and mean absolute percentage error). Load the checkpoint with
``partition.planner.predictor=lstm partition.planner.predictor_kwargs.checkpoint=<path>``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from core.errors import not_allowed
from ecc.network.lstm import train_lstm
from ecc.network.predictors import make_predictor
from ecc.network.schedule import load_mahimahi
from ecc.network.traces import markov, random_walk, step
from experiments.apps import as_args


def one_step_errors(predictor, series: np.ndarray, warmup: int) -> tuple[float, float, float]:
    """(RMSE of log bandwidth, MAPE %, mean predict+update time in ms) after ``warmup`` samples."""
    preds, truth, t_ms = [], [], []
    for i, v in enumerate(series):
        if i >= warmup:
            t0 = time.perf_counter()
            p = predictor.predict()
            t_ms.append((time.perf_counter() - t0) * 1e3)
            preds.append(p)
            truth.append(v)
        predictor.update(float(v))
    p, y = np.array(preds), np.array(truth)
    return (
        float(np.sqrt(np.mean((np.log(p) - np.log(y)) ** 2))),
        float(100 * np.mean(np.abs(p / y - 1))),
        float(np.mean(t_ms)),
    )


def run(cfg: Any) -> None:
    """The tool app's entry (conf/tool/train_bw_predictor.yaml): train, save to ``out``, compare."""
    args = as_args(cfg)
    traces = ("markov", "random_walk", "step", "mahimahi")
    if args.trace not in traces:
        raise ValueError(not_allowed("trace", args.trace, ", ".join(traces)))
    torch.set_num_threads(1)

    if args.trace == "mahimahi":
        if not args.mahimahi_path:
            raise ValueError(
                "mahimahi_path=None is not allowed with trace=mahimahi; allowed: a file"
            )
        tr = load_mahimahi(args.mahimahi_path)
    elif args.trace == "markov":
        tr = markov(100, 2, 0.02, 0.05, 1.0, args.duration_s, noise=0.2, seed=args.seed)
    elif args.trace == "random_walk":
        tr = random_walk(50, 0.1, 1, 500, 0.5, args.duration_s, seed=args.seed)
    else:
        tr = step([100, 5], 60, args.duration_s)
    t = np.arange(0, tr.duration_s, args.interval_s)
    rng = np.random.default_rng(args.seed)
    series = np.maximum(
        np.asarray(tr.at(t)) * np.exp(rng.normal(0, 0.05, len(t))), 1e-3
    )  # measurement noise
    cut = int(0.7 * len(series))
    t0 = time.perf_counter()
    lstm, fit = train_lstm(series[:cut], args.window, args.hidden, args.epochs, seed=args.seed)
    train_s = time.perf_counter() - t0
    path = lstm.save(args.out)
    test = series[cut:]
    print(f"trace {tr.name}: {len(series)} samples every {args.interval_s} s; trained on {cut} in {train_s:.1f} s "
          f"(train MSE {fit['train_mse']:.4f} vs last-value {fit['naive_mse']:.4f}, standardised log units)")  # fmt: skip
    print(
        f"{'predictor':16s} {'RMSE(log bw)':>12s} {'MAPE %':>8s} {'predict ms':>10s}  (held-out {len(test)} samples)"
    )
    for name, kw in (
        ("lstm", {"checkpoint": str(path)}),
        ("ewma", {}),
        ("moving_average", {}),
        ("last", {}),
    ):
        rmse, mape, ms = one_step_errors(make_predictor(name, **kw), test, args.window)
        print(f"{name:16s} {rmse:12.4f} {mape:8.1f} {ms:10.4f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("tool", "train_bw_predictor")
