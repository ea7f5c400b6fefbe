"""Result tables every command writes: GitHub markdown for reading, CSV with every column for analysis."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def fmt(value: Any, digits: int | None = 1) -> str:
    """A table cell: floats rounded to ``digits`` (None: as given), NaN/None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float | np.floating):
        if math.isnan(float(value)):
            return "-"
        return str(value) if digits is None else f"{float(value):.{digits}f}"
    return str(value)


def columns_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Union of the rows' keys, in first-seen order."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    return cols


def markdown_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str] | None = None,
    cell: Callable[[Any], str] = fmt,
) -> str:
    """Header, separator and one line per row; ``cell`` renders each value."""
    cols = list(columns) if columns is not None else columns_of(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(
    path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None
) -> Path:
    """Rows as CSV at full precision: ``columns`` first, then every other key; blank where absent."""
    first = list(columns or [])
    keys = first + [k for k in columns_of(rows) if k not in first]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, restval="", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def write_table(
    out_dir: Path,
    stem: str,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str] | None = None,
    title: str | None = None,
    notes: Sequence[str] = (),
    digits: int | None = 1,
) -> tuple[Path, Path]:
    """Write ``<stem>.md`` (title, table of ``columns``, notes) and ``<stem>.csv`` (all columns)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / f"{stem}.md"
    text = [f"## {title}", ""] if title else []
    text += [markdown_table(rows, columns, lambda v: fmt(v, digits))]
    if notes:
        text += ["", *(f"- {n}" for n in notes)]
    md.write_text("\n".join(text) + "\n")
    return md, write_csv(out_dir / f"{stem}.csv", rows, columns)
