"""--quick / --full presets fill only the arguments the user left at their defaults."""

from __future__ import annotations

import argparse

import pytest

from experiments.modes import add_mode_flags, apply_mode

PRESETS = {"quick": {"episodes": 2, "tasks": 2}, "full": {"episodes": 50, "tasks": None}}


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--tasks", type=int, default=None)
    add_mode_flags(p, PRESETS)
    return apply_mode(p.parse_args(list(argv)), p, PRESETS)


def test_no_flag_keeps_the_historical_defaults() -> None:
    a = _parse()
    assert (a.mode, a.episodes, a.tasks) == ("default", 3, None)


def test_preset_fills_defaults_and_explicit_arguments_win() -> None:
    a = _parse("--quick", "--episodes", "7")
    assert (a.mode, a.episodes, a.tasks) == ("quick", 7, 2)
    assert _parse("--full").episodes == 50


def test_quick_and_full_are_exclusive() -> None:
    with pytest.raises(SystemExit):
        _parse("--quick", "--full")
