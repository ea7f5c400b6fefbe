"""Writing the PNGs the experiment commands produce: one place for title, layout, dpi and cleanup."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend: files only, no display needed on servers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, title: str | None = None, dpi: int = 110) -> Path:
    """Title (optional), tight layout, write ``path`` (parents created), close ``fig``."""
    import matplotlib.pyplot as plt

    if title is not None:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
