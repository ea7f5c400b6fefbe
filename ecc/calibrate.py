"""Measure stage latencies on this machine and fit a hardware profile to them.

    vecc-tool tool=calibrate_hardware name=local_cpu [threads=1] [out=path.yaml]
    vecc-tool tool=calibrate_hardware device=cuda shapes=real base=h200 validate=[h200] \
        graphs=true name=h200_eager role=cloud out=conf/hardware/h200_eager.yaml report=r.json

(the command: experiments/calibrate_hardware.py; fields: conf/tool/calibrate_hardware.yaml)

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

On a GPU, ``--shapes real`` measures the published-size models instead (OpenVLA-7B, OFT-7B,
CogACT, pi0, SmolVLA; random weights, built directly on the device), ``--base`` starts the fit
from a datasheet profile (its peaks and bandwidth are kept; only the efficiencies and overheads
are fitted, so int8/int4 keep their own peaks), ``--validate`` scores named profiles against
the measured stages before any fitting, and ``--report`` writes every measured stage, the
scores and provenance as JSON.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import zoo
from ecc.cost import stage_times_ms
from ecc.errors import InvalidValueError, check_choice
from ecc.flopcheck import example_inputs
from ecc.hardware import HardwareProfile, load_profile
from ecc.trace import ExecutionTrace, build_trace

log = logging.getLogger(__name__)

TINY = ("openvla-tiny", "oft-tiny", "pi0-tiny", "cogact-tiny")


def _precision(trace: ExecutionTrace) -> str:
    """The precision a measured trace was run at (fp32 on a CPU, bf16 on a GPU)."""
    return "fp32" if trace.act_bytes == 4.0 else "bf16"


def _act_bytes(precision: str) -> float:
    return 4.0 if precision == "fp32" else 2.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_peaks(
    device: torch.device, dtype: torch.dtype, n: int | None = None, mb: int | None = None
) -> tuple[float, float]:
    """(matmul FLOP/s at ``dtype``, copy bytes/s) by microbenchmark.

    Defaults: an n=1024 matmul and a 256 MB copy on a CPU; 8192 and 2048 MB on a GPU, where
    smaller problems measure launch latency rather than the peak.
    """
    gpu = device.type != "cpu"
    n = n or (8192 if gpu else 1024)
    mb = mb or (2048 if gpu else 256)
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


SHAPE_SETS = ("tiny", "real")


def calibration_shapes(which: str = "tiny") -> list[Any]:
    """``tiny``: the zoo's tiny models and 4x-wider variants of two of them; ``real``: the
    published-size shapes (a GPU's worth of memory: 15 GB of bf16 weights for the 7B ones)."""
    check_choice("shapes", which, SHAPE_SETS)
    if which == "real":
        return [zoo.get_shape(n) for n in zoo.REAL_SHAPES]
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
    """Measured median stage latencies (ms) for one model, aligned with its trace.

    ``whole_ms``: median of the same stages run back to back with one synchronisation at the
    end (what a device that runs the whole model spends; on a GPU it hides launch latency
    that the per-stage figures include). ``graph_ms``: the same run captured once as a CUDA
    graph and replayed (GPU time with no host dispatch); NaN where not measured.
    """

    trace: ExecutionTrace
    measured_ms: np.ndarray
    whole_ms: float = float("nan")
    graph_ms: float = float("nan")


def _run_stages(model: Any, specs: list[Any], state: Any) -> None:
    """Every stage of ``model`` in order, updating ``state`` in place."""
    for spec in specs:
        state.update(model.run_stage(spec, state))


def _graph_replay_ms(model: Any, specs: list[Any], inputs: dict[str, Any], repeats: int) -> float:
    """Median ms of replaying the whole stage sequence captured as one CUDA graph."""

    def run_all() -> None:
        _run_stages(model, specs, model.init_state(inputs))

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the capture stream, as capture requires
        for _ in range(2):
            run_all()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run_all()
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        graph.replay()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


@torch.no_grad()
def measure_model(
    shape: Any,
    device: torch.device,
    dtype: torch.dtype,
    repeats: int = 7,
    warmup: int = 2,
    graphs: bool = False,
) -> StageMeasurements:
    """Run ``shape``'s zoo model stage by stage; median wall time per stage (ms).

    ``graphs`` (CUDA only): also time the whole run captured as one CUDA graph.

    The model is built on ``device`` itself (a 7B model never passes through host memory) with
    the layers' own random initialisation; weights do not change the time of dense kernels.
    """
    # Stray buffers made on the host during construction follow in the .to().
    model = zoo.build_model(shape, device=device).to(device=device, dtype=dtype).eval()
    inputs = {k: (v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device))
              for k, v in example_inputs(shape).items()}  # fmt: skip
    specs = model.stages()
    times: list[list[float]] = [[] for _ in specs]
    whole: list[float] = []
    for r in range(repeats + warmup):
        state = model.init_state(inputs)
        for i, spec in enumerate(specs):
            _sync(device)
            t0 = time.perf_counter()
            state.update(model.run_stage(spec, state))
            _sync(device)
            if r >= warmup:
                times[i].append((time.perf_counter() - t0) * 1e3)
        if r >= warmup:
            state = model.init_state(inputs)
            _sync(device)
            t0 = time.perf_counter()
            _run_stages(model, specs, state)
            _sync(device)
            whole.append((time.perf_counter() - t0) * 1e3)
    graph_ms = float("nan")
    if graphs and device.type == "cuda":
        try:
            graph_ms = _graph_replay_ms(model, specs, inputs, repeats)
        except RuntimeError as e:  # a stage that syncs with the host cannot be captured
            log.warning("%s: CUDA graph capture failed: %s", shape.name, str(e)[:200])
    del model, state
    if device.type == "cuda":
        torch.cuda.empty_cache()
    act_bytes = _act_bytes("fp32" if dtype == torch.float32 else "bf16")
    trace = build_trace(shape, granularity="block", act_bytes=act_bytes)
    return StageMeasurements(
        trace, np.array([statistics.median(t) for t in times]), statistics.median(whole), graph_ms
    )


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


def validate_profile(
    profile: HardwareProfile, measurements: list[StageMeasurements], precision: str
) -> dict[str, Any]:
    """Score ``profile``'s predictions against measured stages (no fitting).

    Per model: median |relative error| over its stages, and the predicted whole-model time
    (sum of stage predictions, ms) against the measured sum of stages (``total_rel_err``) and
    against the CUDA-graph replay (``graph_rel_err``: GPU time without host dispatch).
    """
    models, errors = {}, []
    for m in measurements:
        pred = stage_times_ms(m.trace, profile, precision)
        total = float(pred.sum())
        errors.append(np.abs(pred / m.measured_ms - 1))
        models[m.trace.shape_name] = {
            "stages": len(pred),
            "median_abs_rel_err": float(np.median(errors[-1])),
            "predicted_total_ms": total,
            "measured_stage_sum_ms": float(m.measured_ms.sum()),
            "measured_whole_ms": m.whole_ms,
            "measured_graph_ms": m.graph_ms,
            "total_rel_err": total / float(m.measured_ms.sum()) - 1,
            "graph_rel_err": total / m.graph_ms - 1,  # NaN where no graph was captured
        }
    return {
        "profile": profile.name,
        "median_abs_rel_err": float(np.median(np.concatenate(errors))),
        "models": models,
    }


def load_report(path: str | Path) -> list[StageMeasurements]:
    """The measurements of a ``--report`` JSON, re-aligned with today's traces.

    Raises InvalidValueError naming the model when a trace's stages no longer match the
    recorded ones (the zoo changed since the measurement).
    """
    if not Path(path).is_file():
        raise InvalidValueError(
            "from_report", str(path), "the path of a report JSON written by --report"
        )
    doc = json.loads(Path(path).read_text())
    act_bytes = _act_bytes(doc.get("precision", "bf16"))
    out = []
    for m in doc["models"]:
        trace = build_trace(m["shape"], granularity="block", act_bytes=act_bytes)
        names = [s["name"] for s in m["stages"]]
        if names != [s.name for s in trace.stages]:
            raise InvalidValueError(f"{path}: models[{m['shape']}].stages", f"{len(names)} stages",
                                    f"the {len(trace.stages)} stages of today's {m['shape']} trace")  # fmt: skip
        ms = np.array([s["measured_ms"] for s in m["stages"]])
        nan = float("nan")
        out.append(
            StageMeasurements(
                trace, ms, float(m.get("whole_ms", nan)), float(m.get("graph_ms", nan))
            )
        )
    return out


@dataclass
class HardwareFit:
    """What ``calibrate`` measured and the hardware profile it fitted to the measurements.

    ``report``: scalar figures (also stored in ``profile.calibrated``); ``validation``: the
    ``validate_profile`` score of each profile named in ``validate``.
    """

    profile: HardwareProfile
    report: dict[str, float]
    measurements: list[StageMeasurements]
    validation: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """Every measured stage with the fitted profile's prediction, scores and the fit."""
        precision = _precision(self.measurements[0].trace)
        models = []
        for m in self.measurements:
            pred = stage_times_ms(m.trace, self.profile, precision)
            a = m.trace.arrays
            models.append({
                "shape": m.trace.shape_name, "whole_ms": m.whole_ms, "graph_ms": m.graph_ms,
                "stages": [{"name": st.name, "measured_ms": float(ms), "fitted_ms": float(p),
                            "flops": float(f), "weight_elems": float(w), "kernels": float(k)}
                           for st, ms, p, f, w, k in zip(m.trace.stages, m.measured_ms, pred, a["flops"],
                                                         a["weight_elems"], a["kernels"], strict=True)],
            })  # fmt: skip
        return {"precision": precision, "fit": self.report, "profile": self.profile.to_dict(),
                "validation": self.validation, "models": models}  # fmt: skip


def calibrate(
    name: str = "local_cpu",
    device: str = "cpu",
    threads: int = 1,
    repeats: int = 7,
    role: str = "edge",
    mem_capacity_gb: float | None = None,
    shapes: str = "tiny",
    base: str | None = None,
    validate: tuple[str, ...] = (),
    warmup: int = 2,
    models: tuple[str, ...] = (),
    graphs: bool = False,
) -> HardwareFit:
    """Measure, fit and return the profile of this machine with the measurements behind it."""
    if threads < 1:
        raise InvalidValueError("threads", threads, ">= 1")
    if repeats < 1:
        raise InvalidValueError("repeats", repeats, ">= 1")
    if warmup < 0:
        raise InvalidValueError("warmup", warmup, ">= 0")
    torch.set_num_threads(threads)
    dev = torch.device(device)
    dtype = torch.float32 if dev.type == "cpu" else torch.bfloat16
    precision = "fp32" if dtype == torch.float32 else "bf16"
    shape_list = calibration_shapes(shapes)
    if models:  # a subset, in the order given: the first model measured also warms the host up
        by_name = {s.name: s for s in shape_list}
        for m in models:
            check_choice("models", m, list(by_name))
        shape_list = [by_name[m] for m in models]
    checked = [load_profile(v) for v in validate]  # bad names fail before minutes of measuring
    base_prof = load_profile(base) if base else None
    peak_flops, bw = measure_peaks(dev, dtype)
    log.info("peaks: %.1f TFLOP/s %s, %.0f GB/s copy", peak_flops / 1e12, precision, bw / 1e9)
    if base_prof is not None:
        # Datasheet peaks per precision; the fit then says what fraction real kernels reach.
        base_prof = replace(base_prof, name=name, role=role, calibrated={},
                            source=f"{base_prof.source}; fitted by ecc.calibrate on {device} ({shapes} shapes)")  # fmt: skip
        if mem_capacity_gb is not None:
            base_prof = replace(base_prof, mem_capacity_gb=mem_capacity_gb)
    else:
        if mem_capacity_gb is None:
            if dev.type == "cuda":
                mem_capacity_gb = torch.cuda.get_device_properties(dev).total_memory / 1e9
            else:
                mem_capacity_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
        peaks = {p: peak_flops / 1e12 for p in ("fp32", "bf16", "int8", "int4")}
        base_prof = HardwareProfile(name, role, peaks, bw / 1e9, mem_capacity_gb, 1.0, 1.0, 0.0,
                                    source=f"measured by ecc.calibrate ({device}, {threads} threads)",
                                    notes="peaks of non-calibrated precisions copied from the calibrated one")  # fmt: skip
    measurements = []
    for s in shape_list:
        t0 = time.perf_counter()
        measurements.append(measure_model(s, dev, dtype, repeats, warmup, graphs))
        m = measurements[-1]
        log.info("%s: %d stages, sum %.2f ms, whole %.2f ms, graph %.2f ms (measured in %.0f s)", s.name,
                 len(m.measured_ms), m.measured_ms.sum(), m.whole_ms, m.graph_ms, time.perf_counter() - t0)  # fmt: skip
    validation = {p.name: validate_profile(p, measurements, precision) for p in checked}
    # Held-out check: fit on half the models, score the other half; the saved profile is
    # then fitted on all of them.
    half, _ = fit_profile(base_prof, measurements[::2], precision)
    held_err = float(np.median(_rel_errors(half, measurements[1::2], precision)))
    prof, fit_err = fit_profile(base_prof, measurements, precision)
    all_err = float(np.median(_rel_errors(prof, measurements, precision)))
    tiny = [m for m in measurements if m.trace.shape_name in TINY]
    report = {
        "peak_tflops": peak_flops / 1e12, "mem_bandwidth_gbps": bw / 1e9, "stages": float(sum(len(m.measured_ms) for m in measurements)),
        "fit_median_abs_rel_err": fit_err, "all_median_abs_rel_err": all_err, "heldout_median_abs_rel_err": held_err,
        "compute_eff": prof.eff(precision), "mem_eff": prof.mem_eff, "kernel_overhead_us": prof.kernel_overhead_us,
        "stage_overhead_us": prof.stage_overhead_us,
    }  # fmt: skip
    if tiny:  # the tiny models' own error (the agents issue's acceptance figure)
        report["tiny_median_abs_rel_err"] = float(np.median(_rel_errors(prof, tiny, precision)))
    prof.calibrated = {k: round(float(v), 6) for k, v in report.items()}
    return HardwareFit(prof, report, measurements, validation)


def print_validation(validation: dict[str, dict[str, Any]]) -> None:
    """One table per scored profile: stage error and whole-model time (ms) per model."""
    for pname, v in validation.items():
        print(f"\nprofile {pname}: median |stage error| {v['median_abs_rel_err']:.1%}")
        print(
            f"{'model':16s} {'stages':>6s} {'stage err':>9s} {'pred ms':>9s} {'meas ms':>9s} {'whole ms':>9s} {'graph ms':>9s} {'total err':>9s} {'vs graph':>9s}"
        )
        for mname, r in v["models"].items():
            print(f"{mname:16s} {r['stages']:6d} {r['median_abs_rel_err']:9.1%} {r['predicted_total_ms']:9.2f} "
                  f"{r['measured_stage_sum_ms']:9.2f} {r['measured_whole_ms']:9.2f} {r['measured_graph_ms']:9.2f} {r['total_rel_err']:+9.1%} {r['graph_rel_err']:+9.1%}")  # fmt: skip


def validate_report(path: str | Path, profiles: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Score the named profiles against a saved report (``load_report``); measures nothing."""
    ms = load_report(path)
    precision = _precision(ms[0].trace)
    return {p.name: validate_profile(p, ms, precision) for p in map(load_profile, profiles)}
