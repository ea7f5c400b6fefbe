"""Read an offline W&B run back (config, history rows, final summary, artifacts) without uploading it.

Uses ``wandb leet inspect --json``, W&B's own reader of the ``.wandb`` transaction log, so the check
does not depend on the log's private protobuf layout.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class OfflineRun:
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    group: str | None = None  # W&B run group (sweep jobs share one)
    name: str | None = None  # display name
    # artifact name -> {"type": ..., "files": [paths inside the artifact]} (media tables included)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)


def find_offline_runs(root: str | Path) -> list[Path]:
    """Every ``offline-run-*`` directory under ``root`` (e.g. a Hydra run dir), oldest first."""
    return sorted(Path(root).rglob("offline-run-*"))


def read_offline_run(run_dir: str | Path, timeout_s: float = 60.0) -> OfflineRun:
    """Parse one offline run directory (the one holding ``run-<id>.wandb``)."""
    files = sorted(Path(run_dir).glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no run-*.wandb transaction log in {run_dir}")
    out = subprocess.run(
        ["wandb", "leet", "inspect", "--json", str(files[0])],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    run = OfflineRun()
    for line in out.stdout.splitlines():
        if not line.startswith("{"):
            continue
        rec = json.loads(line)
        kind = rec.get("type")
        if kind == "run":
            run.config.update(rec["run"].get("config", {}).get("update", {}))
            run.group = rec["run"].get("run_group") or None
            run.name = rec["run"].get("display_name") or None
        elif kind == "config":
            run.config.update(rec["config"].get("update", {}))
        elif kind == "history":
            run.history.append(rec["history"]["item"])
        elif kind == "summary":
            run.summary.update(rec["summary"].get("update", {}))
        elif kind == "artifact":
            art = rec["artifact"]
            run.artifacts[art.get("name", "?")] = {
                "type": art.get("type"),
                "files": [c["path"] for c in art.get("manifest", {}).get("contents", [])],
            }
        elif kind == "exit":
            run.exit_code = rec["exit"].get("exit_code", 0)
    run.config.pop("_wandb", None)
    return run
