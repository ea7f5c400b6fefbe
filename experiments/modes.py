"""``--quick`` / ``--full`` for the paper-table commands: presets over their ordinary arguments.

A preset only fills arguments the user left at their parser default, so
``--quick --episodes 3`` runs the quick preset with 3 episodes. Without either flag a command keeps
its historical defaults (``mode`` is then ``"default"``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

MODES: tuple[str, ...] = ("quick", "full")


def add_mode_flags(
    parser: argparse.ArgumentParser, presets: Mapping[str, Mapping[str, Any]]
) -> None:
    """Add mutually exclusive ``--quick`` and ``--full``; their help lists what each preset sets."""
    group = parser.add_mutually_exclusive_group()
    for mode in MODES:
        settings = ", ".join(f"{k}={v}" for k, v in presets[mode].items())
        group.add_argument(
            f"--{mode}",
            dest="mode",
            action="store_const",
            const=mode,
            help=f"preset: {settings} (explicit arguments win)",
        )
    parser.set_defaults(mode="default")


def apply_mode(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    presets: Mapping[str, Mapping[str, Any]],
) -> argparse.Namespace:
    """Fill ``args`` from the chosen preset where the user kept the parser default; returns args."""
    if args.mode not in presets:
        return args
    for key, value in presets[args.mode].items():
        if not hasattr(args, key):
            raise KeyError(f"preset {args.mode!r} sets unknown argument {key!r}")
        if getattr(args, key) == parser.get_default(key):
            setattr(args, key, value)
    return args
