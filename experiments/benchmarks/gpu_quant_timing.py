"""Timers of the GPU kernel benchmark, and the device's measured ceilings.

On CUDA a variant's calls (one per weight copy, rotated past 3x the L2 cache by ``copies_for`` so
memory-bound rows read HBM) are captured in a CUDA graph and the median GPU time per call of its
replays is taken (no host dispatch); on the CPU the median wall time, a check of the paths only.
``ceilings`` measures copy bandwidth and large-GEMM rates to read the kernels' figures against.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

L2_BYTES_DEFAULT = 60 * 1024 * 1024  # H100 / H200 L2 (50 / 60 MB); rotated past 3x of it


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
