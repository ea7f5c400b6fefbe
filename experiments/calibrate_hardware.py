"""Fit this machine's hardware profile as a tool app (the measuring and fitting: ecc.calibrate).

    vecc-tool tool=calibrate_hardware name=local_cpu [threads=1] [out=path.yaml]
    vecc-tool tool=calibrate_hardware device=cuda shapes=real base=h200 validate=[h200] \\
        graphs=true name=h200_eager role=cloud out=conf/hardware/h200_eager.yaml report=r.json
    vecc-tool tool=calibrate_hardware from_report=r.json validate=[h100_sxm]   # measures nothing

Fields: conf/tool/calibrate_hardware.yaml (the old ``python -m ecc.calibrate`` flags map there:
--validate a --validate b -> validate=[a,b]). Prints the fit and each validated profile's score;
writes the profile YAML and, with ``report``, every measured stage as JSON.
"""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path
from typing import Any

import torch

from core.provenance import provenance
from ecc.calibrate import calibrate, print_validation, validate_report
from ecc.errors import EccError
from ecc.hardware import save_profile
from experiments.apps import as_args


def run(cfg: Any) -> None:
    """The tool app's entry (conf/tool/calibrate_hardware.yaml)."""
    args = as_args(cfg)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.from_report:
        try:
            scores = validate_report(args.from_report, tuple(args.validate or ["local_cpu"]))
        except EccError as e:
            raise SystemExit(f"calibrate_hardware: {e}") from None
        print_validation(scores)
        return
    try:
        cal = calibrate(args.name, args.device, args.threads, args.repeats, args.role,
                        shapes=args.shapes, base=args.base, validate=tuple(args.validate),
                        warmup=args.warmup, models=tuple(args.models), graphs=args.graphs)  # fmt: skip
    except EccError as e:  # bad names and values: one line, not a traceback
        raise SystemExit(f"calibrate_hardware: {e}") from None
    path = save_profile(cal.profile, args.out)
    for k, v in cal.report.items():
        print(f"{k:28s} {v:.4g}")
    print_validation(cal.validation)
    if args.report:
        doc = {"device": _device_label(args.device), "command": vars(args), "provenance": provenance(),
               "torch": torch.__version__, **cal.to_json()}  # fmt: skip
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(doc, indent=1))
        print(f"wrote {args.report}")
    print(f"wrote {path} (load with ecc.hardware.load_profile({args.name!r}))")


def _device_label(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("tool", "calibrate_hardware")
