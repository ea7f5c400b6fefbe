"""One error root: every class in a package's ``errors.py`` is a ``VeccError`` (a ValueError)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from core.errors import VeccError, not_allowed

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "envs", "agents", "quantization", "ecc", "experiments")
ERROR_MODULES = sorted(
    ".".join(p.relative_to(REPO).with_suffix("").parts)
    for pkg in PACKAGES
    for p in (REPO / pkg).rglob("errors.py")
)


def test_the_walk_finds_every_errors_module() -> None:
    assert {"agents.errors", "ecc.wire.errors", "envs.experts.errors"} <= set(ERROR_MODULES)


@pytest.mark.parametrize("name", ERROR_MODULES)
def test_every_error_class_derives_from_the_root(name: str) -> None:
    module = importlib.import_module(name)
    classes = [
        c
        for c in vars(module).values()
        if inspect.isclass(c) and issubclass(c, BaseException) and c.__module__ == name
    ]
    assert classes, f"{name} defines no exception class"
    outside = [c.__name__ for c in classes if not issubclass(c, VeccError)]
    assert not outside, f"{name}: {outside} do not derive from core.errors.VeccError"


def test_not_allowed_names_field_value_and_allowed_values() -> None:
    assert not_allowed("mode", "x", ("a", "b")) == "mode='x' is not allowed; allowed: 'a', 'b'"
    assert not_allowed("lr", -1.0, "a float > 0") == "lr=-1.0 is not allowed; allowed: a float > 0"


def test_builtin_bases_are_kept_beside_the_root() -> None:
    from ecc.errors import UnknownNameError
    from ecc.links.errors import LinkUnavailable
    from ecc.wire.errors import RemoteError, TransportTimeout

    assert issubclass(TransportTimeout, TimeoutError)
    assert issubclass(TransportTimeout, OSError)
    assert issubclass(RemoteError, RuntimeError)
    assert issubclass(LinkUnavailable, RuntimeError)
    assert issubclass(UnknownNameError, KeyError)
    assert str(UnknownNameError("network", "6g", ["4g", "5g"])) == (
        "network='6g' is not allowed; allowed: 4g, 5g"
    )
