"""Where LIBERO's BDDL files are: the vendored four suites, or a LIBERO checkout / wheel.

The 40 files of libero_spatial, libero_object, libero_goal and libero_10 are vendored in
``envs/libero/bddl_files`` (MIT, see its LICENSE and README). libero_90 is read from a
directory holding LIBERO's ``bddl_files`` tree: ``$LIBERO_BDDL_ROOT`` or the ``root``
argument, e.g. the unzipped ``hf-libero`` wheel's ``libero/libero/bddl_files``.
"""

from __future__ import annotations

import os
from pathlib import Path

from envs.errors import EnvConfigError

VENDORED_ROOT = Path(__file__).parent / "bddl_files"
#: LIBERO's suite names; the first four are vendored
SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")
VENDORED_SUITES = SUITES[:4]
ROOT_ENV = "LIBERO_BDDL_ROOT"


def suite_dir(suite: str, root: str | Path | None = None) -> Path:
    """The folder of one suite's ``.bddl`` files."""
    if suite not in SUITES:
        raise EnvConfigError("suite", suite, SUITES)
    if root is None and suite in VENDORED_SUITES:
        return VENDORED_ROOT / suite
    root = root if root is not None else os.environ.get(ROOT_ENV)
    if root is None:
        raise EnvConfigError(
            "root",
            None,
            f"a folder with LIBERO's bddl_files/{suite} (pass root= or set ${ROOT_ENV}); "
            f"vendored suites: {', '.join(VENDORED_SUITES)}",
        )
    d = Path(root) / suite
    if not d.is_dir():
        raise EnvConfigError("root", str(root), f"a folder containing {suite}/")
    return d


def task_names(suite: str, root: str | Path | None = None) -> list[str]:
    """Task names (file stems) in LIBERO's benchmark order when known, else sorted."""
    d = suite_dir(suite, root)
    stems = sorted(p.stem for p in d.glob("*.bddl"))
    order_file = d / "task_order.txt"
    if order_file.exists():
        order = [s for s in order_file.read_text().split() if s]
        if sorted(order) == stems:
            return order
    return stems


def bddl_path(suite: str, task: str, root: str | Path | None = None) -> Path:
    p = suite_dir(suite, root) / f"{task}.bddl"
    if not p.exists():
        raise EnvConfigError("task", task, task_names(suite, root))
    return p
