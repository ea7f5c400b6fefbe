"""Real low-bit GPU kernels at the real-size VLA backbones' layer shapes, against the roofline.

DyQ-VLA and the quantized deployments price a quantized layer on the cloud GPU with the
cost model's roofline (``ecc.hardware``: weights at the weight precision's bytes, compute
at the activation precision's peak). This measures what the kernels a PyTorch user really
has on that GPU do at those shapes, and prints the two side by side:

=================  ==============================================================
variant            kernel
=================  ==============================================================
bf16               ``F.linear`` (cuBLAS), the reference deployment
w8a8_int8_mm       ``torch._int_mm`` on int8 codes (kernel only)
w8a8_int8          per-token int8 activation quantization + ``_int_mm`` + rescale
w8a8_fp8_mm        ``torch._scaled_mm`` e4m3, row-wise scales (kernel only)
w8a8_fp8           per-token e4m3 cast + ``_scaled_mm``
w4a16              tinygemm ``torch._weight_int4pack_mm`` (group-wise bf16 scale/zero)
=================  ==============================================================

W4A8 / W4A4 / W4A2 (DyQ's low activation widths on a 4-bit weight) have no kernel in
PyTorch; the JSON says so instead of timing a fake path.

Shapes: every distinct linear of the LLM backbones of ``agents.zoo.REAL_SHAPES`` (q, k, v,
o, gate, up, down), at M = 1 (autoregressive decode), 16, 64 and each model's prefix
length (vision + prompt tokens). Weights are rotated over copies that together exceed
three times the L2 cache, so memory-bound rows read HBM, not L2. GPU time per call is the
median of CUDA-graph replays (no host dispatch), as the stage measurements in
docs/measurements/h200_real_stages.json. Every variant is checked against a float64
reference on its own (dequantized) operands before it is timed.

Run on a CUDA machine (the Hydra app; fields in conf/bench/gpu_quant_kernels.yaml):
  vecc-bench bench=gpu_quant_kernels device=cuda out=docs/measurements/h200_quant_kernels.json
or without Hydra installed (e.g. a lent GPU box):
  python -m experiments.benchmarks.gpu_quant_kernels --device cuda --out FILE
``device=cpu budget=quick`` runs tiny shapes through the same code (a check, not a figure).

The pieces: ``gpu_quant_shapes`` (the layer shapes), ``gpu_quant_variants`` (each variant's
operands, kernel call and float64 reference), ``gpu_quant_timing`` (the timers and measured
ceilings); this module checks and times every variant at every shape, adds the roofline's
prediction, sums whole backbones and writes the record.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from core.jsonio import write_atomic
from core.provenance import provenance
from ecc.hardware import REPO_HARDWARE_DIR, HardwareProfile, profile_from_config, stage_latency_ms
from experiments.benchmarks.gpu_quant_shapes import LinearShape, quick_shapes, real_shapes
from experiments.benchmarks.gpu_quant_timing import (
    L2_BYTES_DEFAULT,
    ceilings,
    copies_for,
    time_cpu_ms,
    time_gpu_ms,
)
from experiments.benchmarks.gpu_quant_variants import (
    KERNEL_TOL,
    NO_KERNEL,
    PRECISION_OF,
    VARIANTS,
    build_variant,
    rel_err,
)


@dataclass
class Row:
    """One (shape, M, variant) measurement. Times in ms per call (GPU time)."""

    k: int
    n: int
    m: int
    variant: str
    measured_ms: float | None = None
    kernel_rel_err: float | None = None  # vs float64 on the variant's own operands
    quant_rel_err: float | None = None  # vs float64 on the unquantized bf16 operands
    predicted_ms: dict[str, float] = field(default_factory=dict)  # profile -> roofline ms
    weight_bytes: int = 0  # bytes of the stored weight (codes + scales)
    copies: int = 1  # weight copies rotated through
    note: str = ""


def roofline_ms(hw: HardwareProfile, precision: str, m: int, k: int, n: int) -> float:
    """The cost model's latency of one ``[m, k] x [k, n]`` linear (ms): one kernel, bf16 acts."""
    flops = np.array([2.0 * m * k * n])
    mem = np.array([k * n * hw.weight_bytes_per_elem(precision) + m * (k + n) * 2.0])
    return float(
        stage_latency_ms(
            flops,
            mem,
            np.array([1.0]),
            hw.flops_per_s(precision),
            hw.bytes_per_s,
            hw.kernel_overhead_ms,
        )[0]
    )


def load_profiles(names: tuple[str, ...]) -> dict[str, HardwareProfile]:
    """Hardware profiles read with PyYAML (no OmegaConf needed on a bare GPU box)."""
    import yaml

    out = {}
    for name in names:
        d = yaml.safe_load((REPO_HARDWARE_DIR / f"{name}.yaml").read_text())
        out[name] = profile_from_config(d)
    return out


def measure_shape(
    s: LinearShape,
    device: torch.device,
    repeats: int,
    l2_bytes: int,
    profiles: dict[str, HardwareProfile],
    variants: tuple[str, ...] = VARIANTS,
) -> list[Row]:
    """Every variant at every M of one shape: checked against float64, then timed."""
    gen = torch.Generator(device=device).manual_seed(s.k * 7919 + s.n)

    def weight() -> torch.Tensor:
        return torch.randn(s.n, s.k, generator=gen, device=device) / math.sqrt(s.k)

    w0 = weight()
    rows = []
    for m in s.ms:
        x0 = torch.randn(m, s.k, generator=gen, device=device)
        exact = x0.double() @ w0.double().t()
        for v in variants:
            row = Row(s.k, s.n, m, v)
            row.predicted_ms = {
                p: roofline_ms(hw, PRECISION_OF[v], m, s.k, s.n) for p, hw in profiles.items()
            }
            try:
                pad = 0
                try:
                    call, ref, wbytes = build_variant(v, w0, x0)
                    out = call()
                except RuntimeError:
                    if not v.startswith("w8a8") or m > 16:
                        raise
                    pad = 32  # e.g. cuBLAS int8 needs M > 16: pad as a deployment would
                    call, ref, wbytes = build_variant(v, w0, x0, pad_to=pad)
                    out = call()
                    row.note = f"activations padded to {pad} rows"
                row.kernel_rel_err = rel_err(out, ref)
                if not v.endswith("_mm"):
                    row.quant_rel_err = rel_err(out, exact)
                row.weight_bytes = wbytes
                if row.kernel_rel_err > KERNEL_TOL[v]:
                    row.note = f"wrong result: rel err {row.kernel_rel_err:.3g} > {KERNEL_TOL[v]}"
                    rows.append(row)
                    continue
                row.copies = copies_for(wbytes, l2_bytes) if device.type == "cuda" else 1
                calls = [call] + [
                    build_variant(v, weight(), x0, pad_to=pad)[0] for _ in range(row.copies - 1)
                ]
                timer = time_gpu_ms if device.type == "cuda" else time_cpu_ms
                row.measured_ms = timer(calls, repeats)
                del calls
            except (RuntimeError, TypeError, NotImplementedError) as e:
                row.note = f"unavailable: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
            rows.append(row)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


# ---------------------------------------------------------------- whole-backbone summary
def backbone_summary(rows: list[Row], layout: dict[str, dict]) -> dict[str, dict]:
    """Per model: all LLM linears of one forward (ms) at decode (M=1) and prefill, per variant."""
    at = {(r.k, r.n, r.m, r.variant): r for r in rows}
    out: dict[str, dict] = {}
    for model, lay in layout.items():
        res: dict[str, dict] = {}
        for phase, m in (("decode_m1", 1), ("prefill", lay["prefix_tokens"])):
            ph: dict[str, Any] = {"m": m}
            for v in VARIANTS:
                parts = [at.get((k, n, m, v)) for _, k, n in lay["block"]]
                if any(p is None or p.measured_ms is None for p in parts):
                    ph[v] = None
                    continue
                meas = lay["layers"] * sum(p.measured_ms for p in parts)
                pred = {
                    prof: lay["layers"] * sum(p.predicted_ms[prof] for p in parts)
                    for prof in parts[0].predicted_ms
                }
                ph[v] = {"measured_ms": meas, "predicted_ms": pred}
            base = ph.get("bf16")
            for v in VARIANTS:
                if ph.get(v) and base:
                    ph[v]["speedup_vs_bf16"] = base["measured_ms"] / ph[v]["measured_ms"]
                    ph[v]["predicted_speedup_vs_bf16"] = {
                        p: base["predicted_ms"][p] / ph[v]["predicted_ms"][p]
                        for p in ph[v]["predicted_ms"]
                    }
            res[phase] = ph
        out[model] = res
    return out


def format_summary(summary: dict[str, dict], profile: str) -> str:
    """A table a reader can scan: per model and phase, measured ms and speedups vs bf16."""
    lines = [
        f"LLM linears per forward (ms, GPU time); speedup vs bf16 measured / predicted by {profile}",
        f"{'model':<16}{'phase':<11}{'M':>5}" + "".join(f"{v:>22}" for v in VARIANTS),
    ]
    for model, res in summary.items():
        for phase, ph in res.items():
            cells = []
            for v in VARIANTS:
                c = ph.get(v)
                if not c:
                    cells.append(f"{'n/a':>22}")
                    continue
                sp = c.get("speedup_vs_bf16", 1.0)
                pp = c.get("predicted_speedup_vs_bf16", {}).get(profile, 1.0)
                cells.append(f"{c['measured_ms']:>9.2f} {sp:>5.2f}x/{pp:>4.2f}x")
            lines.append(f"{model:<16}{phase:<11}{ph['m']:>5}" + "".join(cells))
    return "\n".join(lines)


def measure(
    device: str = "cuda",
    budget: str = "default",
    out: str | None = None,
    repeats: int = 20,
    models: tuple[str, ...] = ("openvla-7b", "openvla-oft-7b", "pi0-3b", "smolvla-450m"),
    profiles: tuple[str, ...] = ("h200", "h200_eager"),
    l2_bytes: int = L2_BYTES_DEFAULT,
) -> dict[str, Any]:
    """Measure, print the summary table, and write the JSON (atomically) to ``out`` if given."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("device=cuda: no CUDA device visible here (use device=cpu budget=quick)")
    if budget not in ("quick", "default"):
        raise SystemExit(f"budget={budget!r}; allowed: quick, default")
    shapes, layout = quick_shapes() if budget == "quick" else real_shapes(tuple(models))
    profs = load_profiles(tuple(profiles))
    t0 = time.perf_counter()
    roof = ceilings(dev)
    rows: list[Row] = []
    for i, s in enumerate(shapes):
        rows += measure_shape(s, dev, repeats, l2_bytes, profs)
        print(
            f"[{i + 1}/{len(shapes)}] k={s.k} n={s.n} M={list(s.ms)} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    summary = backbone_summary(rows, layout)
    bad = [r for r in rows if r.note.startswith("wrong")]
    result = {
        "what": "real low-bit GPU kernels at real-size VLA LLM linear shapes vs the roofline",
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "command": {
            "device": device,
            "budget": budget,
            "repeats": repeats,
            "models": list(models),
            "profiles": list(profiles),
            "l2_bytes": l2_bytes,
        },
        "timing": "CUDA-graph replay, median GPU ms per call"
        if dev.type == "cuda"
        else "CPU wall ms",
        "provenance": provenance(),
        "ceilings": roof,
        "no_kernel": NO_KERNEL,
        "wrong_results": len(bad),
        "summary": summary,
        "shapes": [asdict(s) for s in shapes],
        "rows": [asdict(r) for r in rows],
        "wall_s": time.perf_counter() - t0,
    }
    print(f"ceilings: {', '.join(f'{k} {v:.0f}' for k, v in roof.items()) or 'n/a (cpu)'}")
    print(format_summary(summary, profiles[0]))
    for v, why in NO_KERNEL.items():
        print(f"{v}: not timed: {why}")
    if bad:
        print(f"{len(bad)} rows gave wrong results (see rows[].note)")
    if out:
        write_atomic(out, result)
        print(f"wrote {out}")
    return result


def run(cfg: Any) -> None:
    """The bench app's entry (conf/bench/gpu_quant_kernels.yaml)."""
    from experiments.apps import as_args

    a = as_args(cfg)
    measure(a.device, a.mode, a.out, a.repeats, tuple(a.models), tuple(a.profiles))


def _cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--budget", default="default", choices=("quick", "default"))
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    measure(a.device, a.budget, a.out, a.repeats)


if __name__ == "__main__":
    _cli()
