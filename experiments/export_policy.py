"""Copy a trained checkpoint into the repository (``checkpoints/<name>``) with what made it and how it did.

    vecc-tool tool=export_policy src=outputs/train/pi0_tiny_object_conv/checkpoints/step_0006000 \\
        dst=checkpoints/object/pi0_tiny eval=outputs/eval/pi0_tiny_object_conv

Fields: conf/tool/export_policy.yaml (old positional SRC DST -> src= dst=).

Copies the four files a policy needs (weights, config, normalisation stats, tokenizer; not the
optimizer state) and writes ``provenance.json``: the source checkpoint, its training config and
seed, training wall time (from the checkpoint, else summed from the run's ``train_log.jsonl``),
the exporting git commit and package versions, and, with ``eval``, the closed-loop success
pooled over the evaluation's run directories (Wilson 95% interval, per task).
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from agents.policy import load_policy, read_checkpoint_config
from core.provenance import provenance
from experiments.aggregate import success_block
from experiments.apps import as_args
from experiments.results import read_episodes

POLICY_FILES: tuple[str, ...] = ("model.safetensors", "config.json", "stats.json", "tokenizer.json")
MAX_BYTES = 20 * 2**20  # the repository's limit per committed checkpoint (bytes)


def train_seconds(ckpt: Path, config: dict[str, Any]) -> float | None:
    """Training wall time (s) up to ``ckpt``: recorded by the trainer, else from its log."""
    recorded = config.get("extra", {}).get("train_seconds")
    if recorded is not None:
        return float(recorded)
    log = ckpt.parent.parent / "train_log.jsonl"
    step = config.get("extra", {}).get("step")
    if not log.is_file() or step is None:
        return None
    total, last = 0.0, 0
    for line in log.read_text().splitlines():
        row = json.loads(line)
        if row["step"] > step:
            break
        total += (row["step"] - last) / row["it_per_s"]
        last = row["step"]
    return total


def pooled_success(eval_dir: Path) -> dict[str, Any]:
    """Success over every ``episodes.jsonl`` below ``eval_dir``: overall and per task."""
    files = sorted(eval_dir.rglob("episodes.jsonl"))
    if not files:
        raise SystemExit(f"--eval {eval_dir}: no episodes.jsonl below it")
    rows = [row for f in files for row in read_episodes(f)]
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[f"{row['suite']}/{row['task']}"].append(row)
    total = success_block(rows)
    return {
        "runs": [str(f.parent) for f in files],
        "episodes": total["episodes"],
        "successes": total["successes"],
        "success_rate": total["success_rate"],
        "success_ci95": [total["success_ci95_lo"], total["success_ci95_hi"]],
        "per_task": {
            task: {k: success_block(group)[k] for k in ("successes", "episodes")}
            for task, group in sorted(by_task.items())
        },
    }


def export(src: Path, dst: Path, eval_dir: Path | None = None, note: str | None = None) -> Path:
    """Copy ``src`` to ``dst`` (replacing it) and write ``dst/provenance.json``; returns ``dst``.

    ``note``: free text kept in the record, e.g. how a resumed run changed its schedule
    (the checkpoint keeps only the last command's training config).
    """
    config = read_checkpoint_config(src)
    load_policy(src)  # refuse to export what would not load (hash, shapes, stats)
    size = sum((src / f).stat().st_size for f in POLICY_FILES)
    if size > MAX_BYTES:
        raise SystemExit(f"{src}: {size} bytes exceeds the {MAX_BYTES}-byte checkpoint limit")
    record = {
        "source": str(src),
        "family": config["family"],
        "shape": config["shape"]["name"],
        "step": config.get("extra", {}).get("step"),
        "train_seconds": train_seconds(src, config),
        "train_config": config.get("extra", {}).get("train_config"),
        "exported_by": provenance(),
    }
    if note:
        record["note"] = note
    if eval_dir is not None:
        record["closed_loop"] = pooled_success(eval_dir)
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for f in POLICY_FILES:
        shutil.copy2(src / f, dst / f)
    (dst / "provenance.json").write_text(json.dumps(record, indent=1))
    return dst


def run(cfg: Any) -> None:
    """The tool app's entry (conf/tool/export_policy.yaml): export and print one line."""
    args = as_args(cfg, paths=("src", "dst", "eval"))
    out = export(args.src, args.dst, args.eval, args.note)
    rec = json.loads((out / "provenance.json").read_text())
    line = f"exported {rec['shape']} step {rec['step']} -> {out}"
    if "closed_loop" in rec:
        c = rec["closed_loop"]
        line += (
            f"; success {c['successes']}/{c['episodes']} = {100 * c['success_rate']:.1f}% "
            f"[{100 * c['success_ci95'][0]:.1f}, {100 * c['success_ci95'][1]:.1f}]"
        )
    print(line)


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("tool", "export_policy")
