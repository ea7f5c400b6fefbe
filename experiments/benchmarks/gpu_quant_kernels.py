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
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.jsonio import write_atomic
from core.provenance import provenance
from ecc.hardware import REPO_HARDWARE_DIR, HardwareProfile, profile_from_config, stage_latency_ms
from quantization.kernels import w4_int4pack_matmul
from quantization.packing import pack_int4_cpu

VARIANTS: tuple[str, ...] = (
    "bf16",
    "w8a8_int8_mm",
    "w8a8_int8",
    "w8a8_fp8_mm",
    "w8a8_fp8",
    "w4a16",
)
# The cost model's precision name for each variant (ecc.hardware.parse_precision).
PRECISION_OF: dict[str, str] = {
    "bf16": "bf16",
    "w8a8_int8_mm": "w8a8",
    "w8a8_int8": "w8a8",
    "w8a8_fp8_mm": "w8a8",
    "w8a8_fp8": "w8a8",
    "w4a16": "w4a16",
}
NO_KERNEL: dict[str, str] = {
    "w4a8": "no int4-weight x int8-activation GEMM in PyTorch (needs e.g. QQQ / Marlin kernels)",
    "w4a4": "Hopper has no int4 tensor-core path; PyTorch has no W4A4 GEMM",
    "w4a2": "no 2-bit activation GEMM anywhere in PyTorch",
}
# Relative error of a variant against float64 on its own operands (what a correct kernel
# reaches): bf16 accumulation / output rounding, fp8 output in bf16.
KERNEL_TOL: dict[str, float] = {v: 2e-2 for v in VARIANTS}
L2_BYTES_DEFAULT = 60 * 1024 * 1024  # H100 / H200 L2 (50 / 60 MB); rotated past 3x of it


@dataclass(frozen=True)
class LinearShape:
    """One distinct linear layer: ``k`` inputs, ``n`` outputs, and where it occurs."""

    k: int
    n: int
    users: tuple[str, ...]  # "model:layer-name x count-per-block"
    ms: tuple[int, ...]  # token counts it is timed at


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


def llm_linears(llm: Any) -> list[tuple[str, int, int]]:
    """(name, k, n) of one decoder block's linears (Llama / Gemma layout of agents.shapes)."""
    hd = llm.head_dim
    q, kv = llm.heads * hd, llm.kv_heads * hd
    out = [("q", llm.hidden, q), ("k", llm.hidden, kv), ("v", llm.hidden, kv), ("o", q, llm.hidden)]
    if llm.gated_mlp:
        out += [("gate", llm.hidden, llm.intermediate), ("up", llm.hidden, llm.intermediate)]
    else:
        out += [("fc1", llm.hidden, llm.intermediate)]
    out.append(("down", llm.intermediate, llm.hidden))
    return out


def prefix_tokens(shape: Any) -> int:
    """Tokens of one forward's prefix: vision + prompt (+ a proprio token where it sits there)."""
    return int(shape.vision_tokens + shape.prompt_tokens + (1 if shape.proprio_in_prefix else 0))


def real_shapes(models: tuple[str, ...]) -> tuple[list[LinearShape], dict[str, dict]]:
    """Distinct linears of the named models' LLMs, and per model its block layout and M values."""
    from agents.zoo import get_shape

    by_kn: dict[tuple[int, int], tuple[list[str], set[int]]] = {}
    layout: dict[str, dict] = {}
    for name in models:
        s = get_shape(name)
        p = prefix_tokens(s)
        block = llm_linears(s.llm)
        layout[name] = {"layers": s.llm.layers, "prefix_tokens": p, "block": block}
        for lname, k, n in block:
            users, ms = by_kn.setdefault((k, n), ([], {1, 16, 64}))
            users.append(f"{name}:{lname}")
            ms.add(p)
    shapes = [
        LinearShape(k, n, tuple(u), tuple(sorted(ms))) for (k, n), (u, ms) in sorted(by_kn.items())
    ]
    return shapes, layout


def quick_shapes() -> tuple[list[LinearShape], dict[str, dict]]:
    """Three tiny layers (a CPU check of every path, not a figure)."""
    block = [("q", 256, 256), ("up", 256, 512), ("down", 512, 256)]
    shapes = [LinearShape(k, n, (f"tiny:{name}",), (1, 32)) for name, k, n in block]
    return shapes, {"tiny": {"layers": 2, "prefix_tokens": 32, "block": block}}


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    """``||out - ref|| / ||ref||`` in float64 (NaN anywhere gives inf)."""
    o = out.double()
    if not torch.isfinite(o).all():
        return math.inf
    return float((o - ref).norm() / ref.norm().clamp_min(1e-30))


# ---------------------------------------------------------------- quantized operands
def int8_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row symmetric int8 codes and float32 scales ``[rows, 1]``."""
    scale = x.float().abs().amax(-1, keepdim=True).clamp_min(1e-8) / 127.0
    return torch.round(x.float() / scale).clamp_(-127, 127).to(torch.int8), scale


FP8_MAX = 448.0  # e4m3fn


def fp8_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row e4m3 values and float32 scales ``[rows, 1]``."""
    scale = x.float().abs().amax(-1, keepdim=True).clamp_min(1e-8) / FP8_MAX
    return (x.float() / scale).to(torch.float8_e4m3fn), scale


def int4_groups(w: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric 4-bit group codes ``[n, k]`` (0..15) and bf16 (scale, zero) ``[k/g, n]``.

    Dequantization is tinygemm's: ``(q - 8) * scale + zero``.
    """
    n, k = w.shape
    g = w.float().view(n, k // group, group)
    lo, hi = g.amin(-1), g.amax(-1)
    scale = ((hi - lo) / 15).clamp_min(1e-8)
    q = torch.round((g - lo[..., None]) / scale[..., None]).clamp_(0, 15)
    zero = lo + 8 * scale
    return q.view(n, k).to(torch.int32), scale.t().contiguous(), zero.t().contiguous()


def dequant_int4(
    q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, group: int
) -> torch.Tensor:
    s = scale.t().to(torch.float64).repeat_interleave(group, dim=1)
    z = zero.t().to(torch.float64).repeat_interleave(group, dim=1)
    return (q.double() - 8) * s + z


def int4_group_size(k: int) -> int | None:
    """Largest tinygemm group size dividing ``k`` (None: no int4 layout fits)."""
    return next((g for g in (128, 64, 32) if k % g == 0), None)


class Int4Weight:
    """One weight in the device's int4 kernel layout (CUDA tinygemm, or the CPU kernel's)."""

    def __init__(self, w: torch.Tensor, group: int) -> None:
        self.group = group
        self.device = w.device
        q, scale, zero = int4_groups(w, group)
        self.q, self.scale, self.zero = q, scale, zero
        sz = torch.stack([scale, zero], dim=-1).to(torch.bfloat16).contiguous()  # [k/g, n, 2]
        self.scales_zeros = sz
        if w.device.type == "cuda":
            self.packed, self.inner_k_tiles = self._pack_cuda(q)
        else:
            self.packed = pack_int4_cpu(q)
            self.inner_k_tiles = 1

    # Which nibble of a byte holds the even column in tinygemm's input: torch has changed
    # it before, so it is found once per process by checking both against float64.
    _even_high: bool | None = None

    def _pack_cuda(self, q: torch.Tensor) -> tuple[torch.Tensor, int]:
        orders = (True, False) if Int4Weight._even_high is None else (Int4Weight._even_high,)
        for even_high in orders:
            a, b = (q[:, ::2], q[:, 1::2]) if even_high else (q[:, 1::2], q[:, ::2])
            packed, tiles = self._convert((a << 4 | b).to(torch.uint8).contiguous())
            if Int4Weight._even_high is not None:
                return packed, tiles
            probe = torch.randn(4, q.shape[1], device=q.device, dtype=torch.bfloat16)
            got = torch._weight_int4pack_mm(probe, packed, self.group, self.scales_zeros)
            if rel_err(got, probe.double() @ self.dequantized().t()) < 1e-2:
                Int4Weight._even_high = even_high
                return packed, tiles
        raise RuntimeError("neither nibble order reproduces the int4 weight")

    @staticmethod
    def _convert(u8: torch.Tensor) -> tuple[torch.Tensor, int]:
        last: Exception | None = None
        for tiles in (8, 4, 2):
            try:
                return torch._convert_weight_to_int4pack(u8, tiles), tiles
            except RuntimeError as e:  # k must be a multiple of tiles * 16
                last = e
        raise RuntimeError(f"no inner_k_tiles fits k={u8.shape[1] * 2}: {last}")

    @property
    def nbytes(self) -> int:
        return self.packed.numel() * self.packed.element_size() + self.scales_zeros.numel() * 2

    def matmul(self, x_bf16: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            return torch._weight_int4pack_mm(x_bf16, self.packed, self.group, self.scales_zeros)
        return w4_int4pack_matmul(x_bf16, self.packed, self.group, self.scales_zeros)

    def dequantized(self) -> torch.Tensor:
        return dequant_int4(self.q, self.scale, self.zero, self.group)


# ---------------------------------------------------------------- one variant's callable
def _pad_rows(t: torch.Tensor, rows: int) -> torch.Tensor:
    return t if t.shape[0] >= rows else torch.cat([t, t.new_zeros(rows - t.shape[0], *t.shape[1:])])


def build_variant(
    variant: str, w: torch.Tensor, x: torch.Tensor, pad_to: int = 0
) -> tuple[Callable[[], torch.Tensor], torch.Tensor, int]:
    """(call, float64 reference on the variant's own operands, stored weight bytes).

    ``pad_to``: the 8-bit GEMMs get at least that many activation rows (zeros appended;
    cuBLAS's int8 path refuses M <= 16), and the time then includes the padded rows.
    """
    m = x.shape[0]
    xb, wb = x.to(torch.bfloat16), w.to(torch.bfloat16)
    if variant == "bf16":
        ref = xb.double() @ wb.double().t()
        return (lambda: F.linear(xb, wb)), ref, wb.numel() * 2
    if variant.startswith("w8a8_int8") or variant.startswith("w8a8_fp8"):
        rows = int8_rows if "int8" in variant else fp8_rows
        wq, ws = rows(w)  # per output channel
        wq_t = wq.t()  # column-major [k, n], the layout the 8-bit GEMMs take
        wbytes = wq.numel() + 4 * ws.numel()
        xq, xs = rows(xb)
        ref = (xq.double() * xs.double()) @ (wq.double() * ws.double()).t()
        ws_row = ws.t().contiguous()
        xin = _pad_rows(xb, pad_to)
        xq_p, xs_p = rows(xin)
        if "int8" in variant:

            def mm(a: torch.Tensor, sa: torch.Tensor) -> torch.Tensor:
                return (torch._int_mm(a, wq_t) * sa * ws_row).to(torch.bfloat16)

            if variant == "w8a8_int8_mm":
                ref_codes = xq.double() @ wq.double().t()
                return (lambda: torch._int_mm(xq_p, wq_t)[:m]), ref_codes, wbytes
        else:

            def mm(a: torch.Tensor, sa: torch.Tensor) -> torch.Tensor:
                return torch._scaled_mm(
                    a, wq_t, scale_a=sa, scale_b=ws_row, out_dtype=torch.bfloat16
                )

            if variant == "w8a8_fp8_mm":
                return (lambda: mm(xq_p, xs_p)[:m]), ref, wbytes

        def run() -> torch.Tensor:
            return mm(*rows(xin))[:m]

        return run, ref, wbytes
    if variant == "w4a16":
        group = int4_group_size(w.shape[1])
        if group is None:
            raise RuntimeError(f"k={w.shape[1]} is not a multiple of 32")
        q4 = Int4Weight(w, group)
        ref = xb.double() @ q4.dequantized().t()
        return (lambda: q4.matmul(xb)), ref, q4.nbytes
    raise ValueError(f"variant={variant!r}; allowed: {', '.join(VARIANTS)}")


# ---------------------------------------------------------------- timing
def time_gpu_ms(calls: list[Callable[[], Any]], repeats: int) -> float:
    """Median GPU ms per call: the calls (one per weight copy) captured in a CUDA graph, replayed."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            for c in calls:
                c()
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()
    per_graph = max(1, math.ceil(64 / len(calls)))
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(per_graph):
            for c in calls:
                c()
    graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(repeats):
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / (per_graph * len(calls)))
    del graph
    return statistics.median(samples)


def time_cpu_ms(calls: list[Callable[[], Any]], repeats: int) -> float:
    """Median wall ms per call on the CPU (a check of the paths; shared-machine figures)."""
    for c in calls:
        c()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for c in calls:
            c()
        samples.append((time.perf_counter() - t0) * 1e3 / len(calls))
    return statistics.median(samples)


def copies_for(weight_bytes: int, l2_bytes: int, max_copies: int = 64) -> int:
    """Weight copies whose sum exceeds 3x L2, so a replay streams weights from HBM."""
    return int(min(max_copies, max(2, math.ceil(3 * l2_bytes / max(1, weight_bytes)))))


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


def ceilings(device: torch.device) -> dict[str, float]:
    """Measured copy bandwidth (GB/s, read + write) and large-GEMM rates (TFLOP/s) on ``device``."""
    if device.type != "cuda":
        return {}
    out: dict[str, float] = {}
    a = torch.randn(1024 * 1024 * 1024 // 4, device=device)  # 1 GiB fp32
    b = torch.empty_like(a)
    out["copy_gbps"] = (
        2 * a.numel() * 4 / (time_gpu_ms([lambda a=a, b=b: b.copy_(a)], 5) * 1e-3) / 1e9
    )
    del a, b
    n = 8192
    x = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    y = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    out["bf16_tflops"] = 2 * n**3 / (time_gpu_ms([lambda: x @ y], 5) * 1e-3) / 1e12
    xi, yi = x.to(torch.int8), y.to(torch.int8).t()
    out["int8_tops"] = 2 * n**3 / (time_gpu_ms([lambda: torch._int_mm(xi, yi)], 5) * 1e-3) / 1e12
    xf, yf = x.to(torch.float8_e4m3fn), y.to(torch.float8_e4m3fn).t()
    one = torch.ones((), device=device)

    def fp8() -> torch.Tensor:
        return torch._scaled_mm(xf, yf, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)

    out["fp8_tflops"] = 2 * n**3 / (time_gpu_ms([fp8], 5) * 1e-3) / 1e12
    return out


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
