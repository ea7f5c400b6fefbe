"""Print the published-anchor check of the cost model; exit 1 if any anchor is off by > 30%.

    vecc-study study=check_anchors          # == python -m experiments.check_anchors

No fields (conf/study/check_anchors.yaml); the exit status is 1 if any anchor fails.
"""

from __future__ import annotations

from typing import Any

from ecc.anchors import check_anchors


def run(cfg: Any = None) -> int:
    """The study app's entry: print the check; 0 if every anchor passes, else 1."""
    results = check_anchors()
    print(f"{'anchor':40s} {'published':>12s} {'predicted':>12s} {'error':>8s}  ok")
    for r in results:
        unit = "ms" if r.anchor.quantity == "latency_ms" else "GB"
        scale = 1.0 if unit == "ms" else 1e-9
        print(f"{r.anchor.name:40s} {r.anchor.published * scale:10.1f}{unit} {r.predicted * scale:10.1f}{unit} "
              f"{100 * r.rel_error:+7.1f}%  {'PASS' if r.ok else 'FAIL'}")  # fmt: skip
    for r in results:
        print(f"  source: {r.anchor.name}: {r.anchor.source}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("study", "check_anchors")
