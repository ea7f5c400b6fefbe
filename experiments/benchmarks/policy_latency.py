"""Tiny-policy inference latency on this CPU: batch 1, fp32, per family and per stage.

    vecc-bench bench=policy_latency                    # all tiny families
    vecc-bench bench=policy_latency calls=100 threads=1 stages=true
    vecc-bench bench=policy_latency checkpoint=outputs/train/.../step_0002000

Fields: conf/bench/policy_latency.yaml (the old flags map there: --stage-runs -> stage_runs).

Prints, per family: the end-to-end ``predict_action_chunk`` latency (preprocessing of two
128x128 cameras + forward + unnormalisation) and the bare model forward, mean and p95
over ``--calls`` calls after ``--warmup`` calls. With ``--stages``: per stage kind the
summed time of one staged run (mean over ``--stage-runs`` runs), the number of stages,
and the largest cut payload (bytes) of that kind; plus the five slowest stages.
Weights are random unless a checkpoint is given: latency does not depend on their values.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np
import torch

from agents.boundary import stage_boundaries
from agents.normalize import NormStats
from agents.policy import VLAPolicy, load_policy
from agents.tokenizer import WordTokenizer
from agents.zoo import build_model, count_params, text_vocab_size
from experiments.apps import as_args

INSTRUCTION = "put the black bowl on the plate"


def _obs(rng: np.random.Generator, size: int) -> dict:
    return {
        "agentview_rgb": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
        "wrist_rgb": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
        "eef_pos": rng.normal(size=3).astype(np.float32),
        "eef_quat": rng.normal(size=4).astype(np.float32),
        "gripper_qpos": rng.normal(size=2).astype(np.float32),
        "language": INSTRUCTION,
    }


def _random_policy(name: str) -> VLAPolicy:
    torch.manual_seed(0)
    model = build_model(name)
    tok = WordTokenizer.build([INSTRUCTION], capacity=text_vocab_size(model.shape))
    rng = np.random.default_rng(0)
    stats = NormStats.from_data(
        rng.uniform(-1, 1, (256, 7)), rng.normal(size=(256, model.shape.proprio_dim))
    )
    return VLAPolicy(model, tok, stats)


def _stats_ms(samples: list[float]) -> tuple[float, float]:
    a = np.asarray(samples)
    return float(a.mean()), float(np.percentile(a, 95))


def run(cfg: Any) -> None:
    """The bench app's entry (conf/bench/policy_latency.yaml): print the tables."""
    args = as_args(cfg)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    obs = _obs(rng, args.image_size)
    policies = (
        [load_policy(args.checkpoint)]
        if args.checkpoint
        else [_random_policy(n) for n in args.families]
    )

    print(f"threads={args.threads} calls={args.calls} batch=1 fp32 cameras={args.image_size}px")
    print(
        f"{'shape':14s} {'params':>10s} {'chunk':>5s} {'stages':>6s} {'policy mean':>12s} {'policy p95':>11s} "
        f"{'model mean':>11s} {'model p95':>10s} {'ms/action':>9s}"
    )
    for pol in policies:
        pol.reset(INSTRUCTION)
        for _ in range(args.warmup):
            pol.predict_action_chunk(obs)
        end_to_end, model_only = [], []
        inputs = pol.model_inputs(obs)
        with torch.no_grad():
            for _ in range(args.calls):
                t0 = time.perf_counter()
                pol.predict_action_chunk(obs)
                end_to_end.append((time.perf_counter() - t0) * 1e3)
                t0 = time.perf_counter()
                pol.model(inputs)
                model_only.append((time.perf_counter() - t0) * 1e3)
        pm, pp = _stats_ms(end_to_end)
        mm, mp = _stats_ms(model_only)
        s = pol.shape
        print(
            f"{s.name:14s} {count_params(pol.model):>10,d} {s.head.chunk:>5d} {len(pol.model.stages()):>6d} "
            f"{pm:>10.2f}ms {pp:>9.2f}ms {mm:>9.2f}ms {mp:>8.2f}ms {pm / s.head.chunk:>7.2f}ms"
        )

    if not args.stages:
        return
    for pol in policies:
        inputs = pol.model_inputs(obs)
        runs = [stage_boundaries(pol.model, inputs, timed=True) for _ in range(args.stage_runs)]
        by_kind: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0])
        per_stage = defaultdict(float)
        for rows in runs:
            for r in rows:
                per_stage[r.name] += r.seconds * 1e3 / len(runs)
        for r in runs[0]:
            k = by_kind[r.kind]
            k[0] += per_stage[r.name]
            k[1] += 1
            k[2] = max(k[2], r.cut_bytes)
        total = sum(per_stage.values())
        print(
            f"\n{pol.shape.name}: staged run {total:.2f} ms over {len(runs[0])} stages (mean of {len(runs)} runs)"
        )
        print(f"  {'kind':14s} {'stages':>6s} {'ms':>8s} {'share':>6s} {'max cut bytes':>14s}")
        for kind, (ms, n, mx) in by_kind.items():
            print(f"  {kind:14s} {n:>6d} {ms:>8.3f} {100 * ms / total:>5.1f}% {mx:>14,d}")
        slow = sorted(per_stage.items(), key=lambda kv: -kv[1])[:5]
        print("  slowest: " + ", ".join(f"{n} {ms:.3f} ms" for n, ms in slow))
        rows = runs[0]
        mid = [r for r in rows if r.name in ("projector", "llm.embed", "llm.prefill.layer0")]
        print("  cut bytes after: " + ", ".join(f"{r.name} {r.cut_bytes:,d} B" for r in mid))


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("bench", "policy_latency")
