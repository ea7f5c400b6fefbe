"""Merge the shards of one evaluation (``eval.shard=i eval.num_shards=n`` jobs) into one run dir.

    python -m experiments.tool tool=merge_shards root=multirun/2026-12-02/20-40-00

Each shard's results.json records ``episodes_run`` (its episode indices in the run's
tasks x init-states list, its shard and the shard count) and its episodes.jsonl. The merge checks
that the shards are one complete, consistent set (every shard 0..n-1 once, status ok, the same
config apart from ``eval.shard``, the same eval plan, indices tiling the plan without overlap) and
writes ``out``: episodes.jsonl in run order, results.json (summary rebuilt from the rows) and
provenance.json listing the shards with the sha256 of their files.

The per-step latency block is pooled from the shards' per-episode stats: ``mean``, ``max`` and
``n`` are exact, percentiles are not recoverable from them and are left null; the inference
facts (uplink Mbit/s, fallback shares) are per-shard only and listed under ``shards``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path
from typing import Any

from core.errors import VeccError
from core.jsonio import dumps as strict_dumps
from core.jsonio import write_atomic
from core.provenance import provenance
from ecc.runtime.records import EpisodeRecord
from experiments.results import read_episodes, summarize

ROW_FIELDS = ("suite", "task", "init_state", "seed", "success", "steps", "sim_time_s",
              "wall_time_s", "language", "extra")  # fmt: skip


class MergeError(VeccError):
    """The shard set is incomplete or inconsistent; the message says which shard and why."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_shards(root: Path) -> list[Path]:
    """Run dirs under ``root`` whose results.json records a shard."""
    found = []
    for path in sorted(root.rglob("results.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise MergeError(f"{path}: not JSON ({e})") from e
        if (data.get("episodes_run") or {}).get("num_shards") is not None:
            found.append(path.parent)
    return found


def _config_without_shard(config: dict[str, Any]) -> dict[str, Any]:
    c = copy.deepcopy(config)
    c.get("eval", {}).pop("shard", None)
    return c


def merge_shards(root: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Check and merge the shards under ``root`` into ``out`` (default ``root/merged``)."""
    root = Path(root)
    out_dir = Path(out) if out is not None else root / "merged"
    dirs = [d for d in find_shards(root) if d.resolve() != out_dir.resolve()]
    if not dirs:
        raise MergeError(f"root={root}: no shard run dirs (results.json with eval.num_shards)")
    shards: dict[int, tuple[Path, dict[str, Any]]] = {}
    for d in dirs:
        data = json.loads((d / "results.json").read_text())
        if data.get("status") != "ok":
            raise MergeError(f"shard run {d} has status={data.get('status')!r} (not ok): rerun it")
        shard = data["episodes_run"]["shard"]
        if shard in shards:
            raise MergeError(f"shard {shard} appears twice: {shards[shard][0]} and {d}")
        shards[shard] = (d, data)
    first_dir, first = shards[min(shards)]
    n = first["episodes_run"]["num_shards"]
    missing = sorted(set(range(n)) - set(shards))
    if missing:
        raise MergeError(f"incomplete shard set under {root}: shards {missing} of {n} missing")
    plan, config = first["eval_plan"], _config_without_shard(first["config"])
    for i, (d, data) in sorted(shards.items()):
        if data["episodes_run"]["num_shards"] != n:
            raise MergeError(f"shard {i} ({d}) has num_shards={data['episodes_run']['num_shards']}, "
                             f"shard {min(shards)} has {n}")  # fmt: skip
        if data["eval_plan"] != plan:
            raise MergeError(f"shard {i} ({d}) evaluates another plan than {first_dir}")
        if _config_without_shard(data["config"]) != config:
            raise MergeError(
                f"shard {i} ({d}) has another config than {first_dir} (beyond eval.shard)"
            )
    total = len(plan["tasks"]) * len(plan["init_states"])
    by_index: dict[int, dict[str, Any]] = {}
    for i, (d, data) in sorted(shards.items()):
        indices = data["episodes_run"]["indices"]
        rows = list(read_episodes(d / "episodes.jsonl"))
        if len(rows) != len(indices):
            raise MergeError(
                f"shard {i} ({d}): {len(rows)} episode rows for {len(indices)} indices"
            )
        for index, row in zip(indices, rows):
            if index in by_index:
                raise MergeError(f"episode {index} is in two shards (shard {i} and another)")
            by_index[index] = row
    if sorted(by_index) != list(range(total)):
        raise MergeError(f"the shards hold {len(by_index)} distinct episodes, the plan has {total}")
    rows = [by_index[i] for i in range(total)]
    records = [EpisodeRecord(**{k: r[k] for k in ROW_FIELDS}) for r in rows]
    summary = summarize(records)
    summary["step_latency_ms"] = _pooled_latency(rows)
    listing = [{"shard": i, "dir": str(d), "episodes": len(data["episodes_run"]["indices"]),
                "results_sha256": _sha256(d / "results.json"),
                "episodes_sha256": _sha256(d / "episodes.jsonl"),
                "git_commit": data["provenance"].get("git_commit"),
                "inference": data["summary"].get("inference")}
               for i, (d, data) in sorted(shards.items())]  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    prov = {**provenance(), "merged_from": listing}
    write_atomic(out_dir / "provenance.json", prov)
    tmp = out_dir / "episodes.jsonl.tmp"
    tmp.write_text("".join(strict_dumps(r) + "\n" for r in rows))
    tmp.replace(out_dir / "episodes.jsonl")
    config["eval"]["num_shards"] = None  # the merged run is the whole plan
    payload = {"status": "ok", "summary": summary, "config": config, "provenance": prov,
               "eval_plan": plan, "deployment": first.get("deployment", {}),
               "episodes_run": {"indices": list(range(total)), "shard": None, "num_shards": None,
                                "merged_shards": n}}  # fmt: skip
    write_atomic(out_dir / "results.json", payload)  # last: only a complete merge reads as a result
    return {"out": out_dir, "summary": summary, "shards": n, "episodes": total}


def _pooled_latency(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-step latency (ms) pooled from per-episode mean/max/n; percentiles left null."""
    pooled: dict[str, dict[str, Any]] = {}
    names = sorted({k for r in rows for k in r.get("step_latency_ms", {})})
    for name in names:
        stats = [r["step_latency_ms"][name] for r in rows if name in r.get("step_latency_ms", {})]
        stats = [s for s in stats if s.get("n")]
        n = sum(s["n"] for s in stats)
        mean = sum(s["mean"] * s["n"] for s in stats) / n if n else math.nan
        peak = max((s["max"] for s in stats), default=math.nan)
        pooled[name] = {"mean": mean, "p50": None, "p95": None, "max": peak, "n": n}
    return pooled


def run(cfg: Any) -> dict[str, Any]:
    """The tool app's entry (conf/tool/merge_shards.yaml)."""
    try:
        result = merge_shards(cfg.root, cfg.get("out"))
    except MergeError as e:
        raise SystemExit(f"merge_shards: {e}") from e
    s = result["summary"]
    print(f"merged {result['shards']} shards, {result['episodes']} episodes: "
          f"success {s['successes']}/{s['episodes']} -> {result['out'] / 'results.json'}")  # fmt: skip
    return result
