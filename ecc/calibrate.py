"""Measure stage latencies on this machine and fit a hardware profile to them.

    python -m ecc.calibrate --name local_cpu [--threads 1] [--out path.yaml]

1. Microbenchmarks give the peaks: a large matmul per precision (FLOP/s) and a large copy
   (memory bytes/s).
2. Calibration models (the zoo's tiny models plus wider variants of them, so that compute-
   and memory-bound stages both appear) run stage by stage; each stage's median wall time
   over ``repeats`` runs is its measured latency.
3. ``compute_eff``, ``mem_eff``, ``kernel_overhead_us`` and ``stage_overhead_us`` are
   fitted to the stages (grid search over the efficiencies, least squares on relative
   error for the overheads); the report gives the median absolute relative error on all
   stages and, for a fit on half the models, on the other half.
4. The profile is written as YAML to the user profile directory (or ``--out``), where
   ``ecc.hardware.load_profile(name)`` finds it. The same command works on a Jetson or a
   GPU (``--device cuda``; bf16 there).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from ecc.cost import stage_times_ms
from ecc.errors import InvalidValueError
from ecc.hardware import HardwareProfile, save_profile
from ecc.trace import ExecutionTrace, build_trace

log = logging.getLogger(__name__)

TINY = ("openvla-tiny", "oft-tiny", "pi0-tiny", "cogact-tiny")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_peaks(
    device: torch.device, dtype: torch.dtype, n: int = 1024, mb: int = 256
) -> tuple[float, float]:
    """(matmul FLOP/s at ``dtype``, copy bytes/s) by microbenchmark."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    best = np.inf
    for _ in range(7):  # best of several: the machine may be shared
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    flops = 2 * n**3 / best
    x = torch.empty(mb * 2**20 // 4, device=device, dtype=torch.float32)
    y = torch.empty_like(x)
    y.copy_(x)
    _sync(device)
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        y.copy_(x)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    bw = 2 * x.numel() * 4 / best  # read + write
    return flops, bw


def calibration_shapes() -> list[Any]:
    """The zoo's tiny models and 4x-wider variants of two of them."""
    from agents import zoo

    shapes = [zoo.get_shape(n) for n in TINY]
    for base in ("openvla-tiny", "cogact-tiny"):
        s = zoo.get_shape(base)
        llm = replace(s.llm, hidden=512, intermediate=1536, heads=8, kv_heads=4)
        proj = replace(s.projector, out_dim=512, hidden=1024)
        head = s.head
        if head.expert is not None:
            head = replace(head, expert=replace(head.expert, hidden=256, intermediate=1024))
        shapes.append(replace(s, name=f"{base}-wide", llm=llm, projector=proj, head=head))
    return shapes


@dataclass
class StageMeasurements:
    """Measured median stage latencies (ms) for one model, aligned with its trace."""

    trace: ExecutionTrace
    measured_ms: np.ndarray


@torch.no_grad()
def measure_model(
    shape: Any, device: torch.device, dtype: torch.dtype, repeats: int = 7
) -> StageMeasurements:
    """Run ``shape``'s zoo model stage by stage; median wall time per stage (ms)."""
    from agents import zoo
    from ecc.flopcheck import example_inputs

    model = zoo.build_model(shape).to(device=device, dtype=dtype).eval()
    inputs = {k: (v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device))
              for k, v in example_inputs(shape).items()}  # fmt: skip
    specs = model.stages()
    times: list[list[float]] = [[] for _ in specs]
    for r in range(repeats + 2):
        state = model.init_state(inputs)
        for i, spec in enumerate(specs):
            _sync(device)
            t0 = time.perf_counter()
            state.update(model.run_stage(spec, state))
            _sync(device)
            if r >= 2:  # two warm-up runs
                times[i].append((time.perf_counter() - t0) * 1e3)
    act_bytes = 4.0 if dtype == torch.float32 else 2.0
    trace = build_trace(shape, granularity="block", act_bytes=act_bytes)
    return StageMeasurements(trace, np.array([statistics.median(t) for t in times]))


def _rel_errors(
    profile: HardwareProfile, ms: list[StageMeasurements], precision: str
) -> np.ndarray:
    pred = np.concatenate([stage_times_ms(m.trace, profile, precision) for m in ms])
    meas = np.concatenate([m.measured_ms for m in ms])
    return np.abs(pred / meas - 1)


def fit_profile(
    base: HardwareProfile, ms: list[StageMeasurements], precision: str
) -> tuple[HardwareProfile, float]:
    """Fit compute_eff[precision], mem_eff, kernel_overhead_us; returns (profile, median |rel err|)."""
    a = [m.trace.arrays for m in ms]
    flops = np.concatenate([x["flops"] for x in a])
    wb = base.weight_bytes_per_elem(precision)
    ab = ms[0].trace.act_bytes
    mem = np.concatenate([x["weight_elems"] * wb + x["act_elems"] * ab for x in a])
    kern = np.concatenate([x["kernels"] for x in a])
    meas = np.concatenate([m.measured_ms for m in ms])
    peak = base.peak_tflops[precision] * 1e12
    bw = base.mem_bandwidth_gbps * 1e9
    best = (np.inf, 0.5, 0.5, 0.0, 0.0)
    w = 1 / meas  # weights turn squared error into squared relative error
    X = np.stack([kern, np.ones_like(kern)], axis=1) * w[:, None]
    for ce in np.geomspace(0.02, 1.0, 40):
        for me in np.geomspace(0.02, 1.0, 40):
            roof = np.maximum(flops / (peak * ce), mem / (bw * me)) * 1e3
            y = (meas - roof) * w
            coef = np.linalg.lstsq(X, y, rcond=None)[0]
            if coef.min() < 0:  # non-negative: refit the other term alone
                j = int(np.argmax(coef))
                coef = np.zeros(2)
                coef[j] = max(0.0, float(X[:, j] @ y / max(X[:, j] @ X[:, j], 1e-30)))
            err = float(np.median(np.abs((roof + kern * coef[0] + coef[1]) / meas - 1)))
            if err < best[0]:
                best = (err, ce, me, coef[0], coef[1])
    err, ce, me, k_oh, s_oh = best
    if isinstance(base.compute_eff, dict):
        eff: dict[str, float] | float = {**base.compute_eff, precision: float(ce)}
    else:  # peaks of the other precisions were copied from this one: so is the efficiency
        eff = float(ce)
    prof = replace(base, compute_eff=eff, mem_eff=float(me), kernel_overhead_us=float(k_oh * 1e3),
                   stage_overhead_us=float(s_oh * 1e3))  # fmt: skip
    return prof, err


def calibrate(
    name: str = "local_cpu",
    device: str = "cpu",
    threads: int = 1,
    repeats: int = 7,
    role: str = "edge",
    mem_capacity_gb: float | None = None,
) -> tuple[HardwareProfile, dict[str, float]]:
    """Measure, fit and return (profile, report) for this machine."""
    if threads < 1:
        raise InvalidValueError("threads", threads, ">= 1")
    torch.set_num_threads(threads)
    dev = torch.device(device)
    dtype = torch.float32 if dev.type == "cpu" else torch.bfloat16
    precision = "fp32" if dtype == torch.float32 else "bf16"
    peak_flops, bw = measure_peaks(dev, dtype)
    if mem_capacity_gb is None:
        if dev.type == "cuda":
            mem_capacity_gb = torch.cuda.get_device_properties(dev).total_memory / 1e9
        else:
            import os

            mem_capacity_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    peaks = {p: peak_flops / 1e12 for p in ("fp32", "bf16", "int8", "int4")}
    base = HardwareProfile(name, role, peaks, bw / 1e9, mem_capacity_gb, 1.0, 1.0, 0.0,
                           source=f"measured by ecc.calibrate ({device}, {threads} threads)",
                           notes="peaks of non-calibrated precisions copied from the calibrated one")  # fmt: skip
    measurements = [measure_model(s, dev, dtype, repeats) for s in calibration_shapes()]
    # Held-out check: fit on half the models, score the other half; the saved profile is
    # then fitted on all of them.
    half, _ = fit_profile(base, measurements[::2], precision)
    held_err = float(np.median(_rel_errors(half, measurements[1::2], precision)))
    prof, fit_err = fit_profile(base, measurements, precision)
    all_err = float(np.median(_rel_errors(prof, measurements, precision)))
    tiny = [m for m in measurements if m.trace.shape_name in TINY]
    tiny_err = float(np.median(_rel_errors(prof, tiny, precision)))
    report = {
        "peak_tflops": peak_flops / 1e12, "mem_bandwidth_gbps": bw / 1e9, "stages": float(sum(len(m.measured_ms) for m in measurements)),
        "fit_median_abs_rel_err": fit_err, "all_median_abs_rel_err": all_err, "tiny_median_abs_rel_err": tiny_err, "heldout_median_abs_rel_err": held_err,
        "compute_eff": prof.eff(precision), "mem_eff": prof.mem_eff, "kernel_overhead_us": prof.kernel_overhead_us,
        "stage_overhead_us": prof.stage_overhead_us,
    }  # fmt: skip
    prof.calibrated = {k: round(float(v), 6) for k, v in report.items()}
    return prof, report


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--name", default="local_cpu")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--role", default="edge", choices=("edge", "cloud"))
    ap.add_argument("--out", default=None, help="YAML path (default: the user profile directory)")
    args = ap.parse_args()
    prof, rep = calibrate(args.name, args.device, args.threads, args.repeats, args.role)
    path = save_profile(prof, args.out)
    for k, v in rep.items():
        print(f"{k:28s} {v:.4g}")
    print(f"wrote {path} (load with ecc.hardware.load_profile({args.name!r}))")


if __name__ == "__main__":
    main()
