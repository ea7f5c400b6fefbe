"""Print the published-anchor check of the cost model; exit 1 if any anchor is off by > 30%.

python -m experiments.check_anchors
"""

from __future__ import annotations

import sys

from ecc.anchors import check_anchors


def main() -> int:
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
    sys.exit(main())
