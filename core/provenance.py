"""What produced a result: package versions, git commit, host, input-file hashes.

Written into every result file; lives in ``core`` so any layer (ecc calibration, the
experiment entry points) can record it without importing a higher layer.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

# Versions that are known to change results when they drift (LIBERO users' main complaint).
TRACKED_PACKAGES: tuple[str, ...] = (
    "vla-ecc-lab",
    "torch",
    "mujoco",
    "robosuite",
    "gymnasium",
    "numpy",
    "hydra-core",
    "wandb",
    "pyroute2",
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def package_versions(packages: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package, ``None`` where it is not installed."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state() -> dict[str, Any]:
    """Commit hash and whether the work tree had uncommitted changes (``dirty``)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """Path, size (bytes) and sha256 of an input file (e.g. the demonstrations a policy saw).

    A missing file gives ``{"path": ..., "missing": True}`` so the caller's own check
    reports it with its field name.
    """
    p = Path(path)
    if not p.is_file():
        return {"path": str(path), "missing": True}
    digest = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "bytes": p.stat().st_size, "sha256": digest.hexdigest()}


def provenance() -> dict[str, Any]:
    """Everything a result file records about the software that made it."""
    return {
        "versions": package_versions(),
        "git": git_state(),
        "platform": {
            "machine": platform.machine(),
            "system": platform.system(),
            "release": platform.release(),
            "processor": platform.processor(),
            "node": platform.node(),
        },
    }


# A checkpoint directory can hold optimizer state and logs too; these are what a run reads.
_CHECKPOINT_FILES = ("config.json", "model.safetensors", "stats.json", "tokenizer.json")


def input_fingerprints(config: Any, base: Path = REPO_ROOT) -> dict[str, Any]:
    """sha256 of every input file a resolved config names, keyed by the config's dotted path.

    Every string leaf that names an existing file (as given, or relative to ``base``) is
    fingerprinted; one that names a checkpoint directory (it holds ``config.json``) gives one
    entry per file the loader reads. Directories that are not checkpoints (output folders) are
    skipped, so the record lists what went in, not what came out.
    """
    found: dict[str, Any] = {}

    def visit(node: Any, key: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                visit(v, f"{key}.{k}" if key else str(k))
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                visit(v, f"{key}[{i}]")
        elif isinstance(node, str) and node and len(node) < 4096 and "\n" not in node:
            path = _existing(node, base)
            if path is None:
                return
            if path.is_file():
                found[key] = file_fingerprint(path)
            elif (path / "config.json").is_file():
                found[key] = {
                    name: file_fingerprint(path / name)
                    for name in _CHECKPOINT_FILES
                    if (path / name).is_file()
                }

    visit(config, "")
    return found


def _existing(value: str, base: Path) -> Path | None:
    for candidate in (Path(value).expanduser(), base / value):
        try:
            if candidate.exists():
                return candidate
        except OSError:  # a string that is no valid path (too long, bad bytes): not a file
            return None
    return None
