"""Quantization kernel benchmark: fp32 vs real W8A8 / W4A16 kernels vs fake paths, at batch 1.

Prints tables (ms per call, median of repeats, speedup vs fp32) for:
  1. single Linear layers at tiny-policy and LLM sizes,
  2. whole tiny zoo policies (agents.zoo) and a wider small transformer policy,
  3. the DyQ-VLA controller's per-step overhead and history size,
  4. memory per method (exact accounting; tiny measured RSS; OpenVLA-7B on meta).

Run: vecc-bench bench=quant_kernels [threads=1] [repeats=50] [budget=quick]
(fields: conf/bench/quant_kernels.yaml; the old --quick is budget=quick: pi0-tiny, 10 repeats)
Timings on a shared machine are inflated by other processes' load; compare rows of one run.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing as mp
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.shapes import DecoderShape
from agents.zoo import build_model, get_shape, random_inputs
from experiments.apps import as_args
from quantization.apply import quantize_model
from quantization.config import MODULE_GROUPS, DyQConfig, dyq_weight_config, method_config
from quantization.dyq import DyQController
from quantization.linear import QuantLinear, quant_linears, set_act_bits
from quantization.memory import _rss_bytes, measure_peak_rss, model_memory_bytes
from quantization.quantizers import WeightQuantSpec
from quantization.selection import selected_linears

GB = 1e9


def bench_ms(fn: Callable[[], object], repeats: int, inner: int = 5) -> float:
    """Median wall time of ``fn`` in ms over ``repeats`` samples of ``inner`` calls."""
    with torch.no_grad():
        for _ in range(3):
            fn()
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples.append((time.perf_counter() - t0) / inner * 1e3)
    return statistics.median(samples)


def linear_table(repeats: int) -> None:
    print("\n## 1. Linear layers, batch 1 (ms per call; speedup vs fp32)")
    print(
        f"{'M x K -> N':>22} {'fp32':>8} {'W8A8':>8} {'W4A16':>8} {'fakeW8A8':>9} {'fakeW4A16':>10}"
        f" {'W8A8 x':>7} {'W4A16 x':>8}"
    )
    for m, k, n in [
        (1, 128, 384),
        (50, 128, 384),
        (50, 384, 128),
        (1, 1024, 4096),
        (50, 1024, 4096),
        (1, 4096, 4096),
    ]:
        torch.manual_seed(0)
        lin = nn.Linear(k, n)
        x = torch.randn(m, k)
        mods = {
            "w8a8": QuantLinear.from_linear(lin, WeightQuantSpec(8), act_bits=8),
            "w4a16": QuantLinear.from_linear(
                lin, WeightQuantSpec(4, 128, scale_dtype=torch.bfloat16), act_bits=16
            ),
            "fw8a8": QuantLinear.from_linear(lin, WeightQuantSpec(8), act_bits=8, backend="fake"),
            "fw4a16": QuantLinear.from_linear(
                lin, WeightQuantSpec(4, 128), act_bits=16, backend="fake"
            ),
        }
        assert mods["w8a8"].kernel_for() == "int_mm_w8a8"
        assert mods["w4a16"].kernel_for() == "int4pack_w4a16"
        t = {"fp32": bench_ms(lambda lin=lin, x=x: lin(x), repeats)}
        for name, mod in mods.items():
            # Fake paths dequantize every call: a few samples suffice to show the cost.
            reps = max(3, repeats // 10) if name.startswith("f") and k * n > 1 << 20 else repeats
            t[name] = bench_ms(lambda mod=mod, x=x: mod(x), reps, inner=1 if reps < repeats else 5)
        print(
            f"{f'{m} x {k} -> {n}':>22} {t['fp32']:8.4f} {t['w8a8']:8.4f} {t['w4a16']:8.4f} "
            f"{t['fw8a8']:9.4f} {t['fw4a16']:10.4f} {t['fp32'] / t['w8a8']:7.2f} "
            f"{t['fp32'] / t['w4a16']:8.2f}"
        )


def _inputs(model, seed: int = 0) -> dict:
    return random_inputs(model.shape, seed=seed)


# Every transformer Linear, the action expert's too: w8a8.yaml keeps pi0's / CogACT's expert
# high precision, which at tiny size is most of their forward (10 flow steps x 4 layers), so
# timing it would measure the fp32 expert, not the kernels.
ALL_GROUPS = [g for g in MODULE_GROUPS if g != "action_head"]
METHODS = {
    "w8a8": {"name": "w8a8", "weight_bits": 8, "act_bits": 8, "groups": ALL_GROUPS},
    "w4a16": {
        "name": "w4a16",
        "weight_bits": 4,
        "act_bits": 16,
        "group_size": 32,
        "scale_dtype": "bfloat16",
        "groups": ALL_GROUPS,
    },
    "dyq(A8)": {
        "name": "dyq",
        "weight_bits": 4,
        "group_size": 32,
        "scale_dtype": "bfloat16",
        "groups": ALL_GROUPS,
    },
    "fake w8a8": {
        "name": "w8a8",
        "weight_bits": 8,
        "act_bits": 8,
        "backend": "fake",
        "groups": ALL_GROUPS,
    },
}


def _wide_shape():
    """A small transformer policy wide enough for int kernels to pay (not a zoo entry)."""
    base = get_shape("oft-tiny")
    return replace(
        base,
        name="oft-wide",
        projector=replace(base.projector, out_dim=512),
        llm=DecoderShape(
            hidden=512, layers=4, heads=8, kv_heads=8, intermediate=1536, vocab_size=512
        ),
    )


def _make_free(layer: nn.Module) -> None:
    """Make ``layer`` cost nothing: it replays its first output for each input shape.

    Made free are exactly the layers a quantizer would replace, so a model timed with them
    free times everything *but* those layers: fp32 / free is the most any kernel for them
    could speed the policy up (Amdahl's bound), whatever its bits. Replayed values are stale
    (a flow expert's steps all get step 0's output); the other ops' cost does not depend on
    values. The module keeps its type and attributes (the conv stem reads ``out_channels``);
    only ``forward`` changes."""
    outputs: dict[tuple[int, ...], torch.Tensor] = {}
    real_forward = layer.forward

    def replay(x: torch.Tensor) -> torch.Tensor:
        out = outputs.get(tuple(x.shape))
        if out is None:
            out = outputs[tuple(x.shape)] = real_forward(x)
        return out

    layer.forward = replay


def _copy(model: nn.Module) -> nn.Module:
    """A fresh eval-mode model of the same shape holding ``model``'s weights."""
    out = build_model(model.shape).eval()
    out.load_state_dict(model.state_dict())
    return out


def free_layer_model(model: nn.Module, with_conv: bool) -> nn.Module:
    """A copy of ``model`` whose W8A8-quantized Linear layers (and, with ``with_conv``, every
    Conv2d) cost nothing (:func:`_make_free`)."""
    free = _copy(model)
    layers = list(selected_linears(free, method_config(METHODS["w8a8"])).values())
    if with_conv:
        layers += [m for m in free.modules() if isinstance(m, nn.Conv2d)]
    for layer in layers:
        _make_free(layer)
    return free


def bench_interleaved(fns: dict[str, Callable[[], object]], rounds: int, inner: int = 2) -> dict:
    """Median ms per call of each function, sampled round-robin so that load spikes from
    other processes hit every variant alike instead of whichever ran during the spike."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    with torch.no_grad():
        for fn in fns.values():
            fn()
        for _ in range(rounds):
            for k, fn in fns.items():
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                samples[k].append((time.perf_counter() - t0) / inner * 1e3)
    return {k: statistics.median(v) for k, v in samples.items()}


def policy_table(repeats: int, names: list[str]) -> None:
    print("\n## 2. Whole policies, batch 1 (ms per action generation / speedup vs fp32;")
    print("##    variants sampled round-robin, median)")
    print(
        f"{'policy':>14} {'params':>9} {'fp32':>8} "
        + " ".join(f"{m:>12}" for m in METHODS)
        + f" {'ao-ref':>12} {'free-Linear':>12} {'+free-Conv':>12}  max|da| w8a8"
    )
    shapes = [get_shape(n) for n in names] + [_wide_shape()]
    for shape in shapes:
        torch.manual_seed(0)
        model = build_model(shape).eval()
        x = _inputs(model)
        with torch.no_grad():
            ref = model(x)["actions"]
        variants = {"fp32": model}
        for label, cfg in METHODS.items():
            qm = _copy(model)
            quantize_model(qm, cfg)
            if label.startswith("dyq"):
                set_act_bits(qm, 8)
            variants[label] = qm
        # Reference only: torch.ao's fbgemm dynamic int8 Linear (fused activation quant, its
        # own prepacked weight copy), to show what a fused W8A8 kernel reaches here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            variants["ao-ref"] = torch.ao.quantization.quantize_dynamic(
                _copy(model), {nn.Linear}, dtype=torch.qint8
            )
        variants["free-Linear"] = free_layer_model(model, with_conv=False)
        variants["+free-Conv"] = free_layer_model(model, with_conv=True)
        with torch.no_grad():
            err = float((variants["w8a8"](x)["actions"] - ref).abs().max())
        t = bench_interleaved({k: (lambda m=m, x=x: m(x)) for k, m in variants.items()}, repeats)
        row = [f"{t[k]:7.2f}/{t['fp32'] / t[k]:3.1f}x" for k in variants if k != "fp32"]
        params = sum(p.numel() for p in model.parameters())
        print(
            f"{shape.name:>14} {params / 1e6:8.2f}M {t['fp32']:8.2f} "
            + " ".join(f"{r:>12}" for r in row)
            + f"  {err:.4f}"
        )
    print(
        "##  free-Linear: the layers W8A8 quantizes replaced by zero-cost replays of their\n"
        "##  output: the upper bound on any Linear kernel's speedup (Amdahl); +free-Conv: the\n"
        "##  Conv2d layers too: the bound for any kernel that quantizes weights and activations."
    )


def dyq_overhead(steps: int = 5000) -> None:
    print(
        "\n## 3. DyQ-VLA controller overhead (paper: kinematic evaluation < 0.5 ms, history < 64 KB)"
    )
    rng = np.random.default_rng(0)
    acts = rng.normal(0, 0.3, (steps, 7))
    ctrl = DyQController(DyQConfig())
    for a in acts[:200]:
        ctrl.update(a)
    t0 = time.perf_counter()
    for a in acts:
        ctrl.update(a)
    per = (time.perf_counter() - t0) / steps * 1e3
    model = build_model("oft-tiny").eval()
    quantize_model(model, METHODS["dyq(A8)"])
    ctrl_b = DyQController(DyQConfig()).bind(model)
    t0 = time.perf_counter()
    for a in acts[:1000]:
        ctrl_b.update(a)
    per_bound = (time.perf_counter() - t0) / 1000 * 1e3
    print(
        f"update() per step: {per:.4f} ms   with set_act_bits on {len(quant_linears(model))} "
        f"layers: {per_bound:.4f} ms   history: {ctrl.history_bytes()} bytes"
    )
    hist = ctrl.histogram()
    print(
        "precision histogram on random actions: "
        + ", ".join(f"{b}b {f:.2f}" for b, f in hist.items())
    )


def memory_table(names: list[str]) -> None:
    print("\n## 4. Memory (exact accounting; bytes of weights+scales+zeros+high-precision rest)")
    cfgs = {
        "fp32": {"name": "none"},
        "bf16": {"name": "none", "weight_bits": 16, "act_bits": 16},
        "w8a8": METHODS["w8a8"],
        "w4 g128": {"name": "dyq", "weight_bits": 4, "group_size": 128},
        "dyq.yaml": dyq_weight_config(),  # + asym clip-searched INT4, INT8 expert, INT4 tables
    }
    print(f"{'model':>14} " + " ".join(f"{c:>14}" for c in cfgs))
    totals: dict[str, dict[str, int]] = {}
    for name in dict.fromkeys([*names, "pi0-tiny", "openvla-7b"]):
        meta = build_model(get_shape(name), "meta")
        totals[name] = {c: model_memory_bytes(meta, cfg).total for c, cfg in cfgs.items()}
        unit, div = ("GB", GB) if name == "openvla-7b" else ("MB", 1e6)
        print(f"{name:>14} " + " ".join(f"{v / div:11.3f} {unit}" for v in totals[name].values()))
    for name, paper in (
        ("openvla-7b", " (paper DyQ-VLA: 4.7 / 15.2 GB = 0.309)"),
        ("pi0-tiny", ""),
    ):
        t = totals[name]
        print(
            f"{name}: W4 g128 / BF16 = {t['w4 g128'] / t['bf16']:.3f}, "
            f"dyq.yaml / BF16 = {t['dyq.yaml'] / t['bf16']:.3f}{paper}"
        )
    print("\nmeasured in a fresh process (oft-tiny, MB): accounted = exact bytes; resident = RSS")
    print("with the model minus RSS after deleting it (libc trimmed both times); peak = RSS rise")
    print("while building + quantizing + one forward, after a warm-up forward of another copy:")
    ctx = mp.get_context("spawn")
    for label, cfg in [("fp32", None), *METHODS.items()]:
        with ctx.Pool(1) as pool:
            acc, resident, peak = pool.apply(_rss_child, (cfg,))
        print(
            f"  {label:>10}: accounted {acc / 1e6:7.3f}  resident {resident / 1e6:7.2f}"
            f"  peak rise {peak / 1e6:7.2f}"
        )


def _trim() -> None:
    gc.collect()
    # Not glibc: RSS figures then include freed arena memory.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _rss_child(cfg: dict | None) -> tuple[int, int, int]:
    torch.set_num_threads(1)
    warm = build_model("oft-tiny").eval()
    x = _inputs(warm)
    with torch.no_grad():
        warm(x)  # initialise oneDNN / allocator pools before measuring
    del warm
    _trim()
    holder: list = []

    def run() -> int:
        torch.manual_seed(0)
        m = build_model("oft-tiny").eval()
        if cfg:
            quantize_model(m, cfg)
        with torch.no_grad():
            m(x)
        holder.append(m)
        return model_memory_bytes(m, {**(cfg or {"name": "none"}), "high_bits": 32}).total

    acc, mem = measure_peak_rss(run)
    _trim()
    with_model = _rss_bytes()
    holder.clear()
    _trim()
    return acc, with_model - _rss_bytes(), mem.peak_delta


def run(cfg: Any) -> None:
    """The bench app's entry (conf/bench/quant_kernels.yaml): print the four tables."""
    args = as_args(cfg)
    torch.set_num_threads(args.threads)
    repeats, names = args.repeats, list(args.policies)
    print(
        f"# quant_kernels: torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"cpu capability {torch.backends.cpu.get_cpu_capability()}, threads {args.threads}, "
        f"load avg {os.getloadavg()[0]:.2f} (shared machine: absolute ms are inflated)"
    )
    linear_table(repeats)
    policy_table(repeats, names)
    dyq_overhead()
    memory_table(names)


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("bench", "quant_kernels")
