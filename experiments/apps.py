"""The Hydra apps behind tables, studies, benchmarks and tools: one dispatcher, one option per entry.

    python -m experiments.table table=roboecc budget=quick     # == vecc-table table=roboecc budget=quick
    python -m experiments.table -m table=roboecc,dyq budget=quick hydra/launcher=joblib

Kind ``K`` (table | study | bench | tool) composes ``conf/app_K.yaml``; the option ``conf/K/<name>.yaml``
puts its fields at the top level and names its function in ``app.entry`` (``module:function``), which
is called with the whole composed config. ``budget`` (default | quick | full) picks a row of the
option's ``presets``. Pattern and flag mapping: docs in ``conf/app_table.yaml`` and the module
docstrings of each entry.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from omegaconf import DictConfig, OmegaConf

from core.errors import not_allowed
from experiments.config_checks import ConfigError

KINDS: tuple[str, ...] = ("table", "study", "bench", "tool")
CONFIG_MODULE = "conf"  # conf/ is a package, so configs resolve in a checkout and in a wheel alike


def conf_dir() -> Path:
    """The directory of the config package (conf/ of the checkout, or of site-packages)."""
    return Path(importlib.import_module(CONFIG_MODULE).__file__).parent


def compose_main(overrides: Sequence[str] = ()) -> DictConfig:
    """The main job's config (conf/config.yaml) under ``overrides``, as ``experiments.run`` sees it.

    Inside a running Hydra app the global Hydra is already set up (plain ``compose``); outside (tests,
    library use) the config module is initialised for the call.
    """
    return _compose("config", list(overrides))


def compose_app(kind: str, name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The config of app ``kind`` with option ``name`` (e.g. "table", "roboecc") under ``overrides``."""
    _check_kind(kind)
    return _compose(f"app_{kind}", [f"{kind}={name}", *overrides])


def run_app(kind: str, name: str, overrides: Sequence[str] = ()) -> Any:
    """Compose and run one app job without Hydra's job machinery (tests; ``out=`` must be given)."""
    cfg = compose_app(kind, name, overrides)
    return dispatch(cfg)


def dispatch(cfg: DictConfig) -> Any:
    """Call the option's ``app.entry`` with ``cfg`` after checking the budget it asks for."""
    entry = str(cfg.app.entry)
    presets = cfg.get("presets")
    if presets is None and cfg.budget != "default":
        raise ConfigError(
            f"budget={cfg.budget!r} is not allowed for {cfg.app.name} (it has no presets); "
            "allowed: default"
        )
    if presets is not None and cfg.budget not in presets:
        raise ConfigError(
            f"budget={cfg.budget!r} is not allowed for {cfg.app.name}; allowed: {', '.join(presets)}"
        )
    return resolve_entry(entry)(cfg)


def resolve_entry(entry: str) -> Callable[[DictConfig], Any]:
    """``"package.module:function"`` -> the function."""
    module, sep, func = entry.partition(":")
    if not sep or not func:
        raise ConfigError(not_allowed("app.entry", entry, "'package.module:function'"))
    return getattr(importlib.import_module(module), func)


def as_args(cfg: DictConfig, paths: Sequence[str] = ()) -> SimpleNamespace:
    """The option's fields as an argparse-style namespace, for entry bodies that read ``args.<field>``.

    ``app``, ``presets`` and ``hydra`` are left out; ``budget`` is kept as ``mode`` where the option
    has presets (what the old ``--quick``/``--full`` recorded); fields named in ``paths`` become Paths.
    """
    fields = OmegaConf.to_container(cfg, resolve=True)
    has_presets = "presets" in fields
    for key in ("app", "presets", "hydra", "budget"):
        fields.pop(key, None)
    for key in paths:
        if fields.get(key) is not None:
            fields[key] = Path(fields[key])
    if has_presets:
        fields["mode"] = str(cfg.budget)
    return SimpleNamespace(**fields)


def make_main(kind: str) -> Callable[[], Any]:
    """The ``@hydra.main`` function of app ``kind`` (a console script's target)."""
    import hydra

    _check_kind(kind)
    # Our conf/hydra/launcher/*.yaml shadow the plugins' configs on purpose (see experiments/run.py).
    warnings.filterwarnings(
        "ignore", message=r"\s*'hydra/launcher/\w+' is validated against ConfigStore schema"
    )
    # conf/hydra/help/<kind>.yaml lists the options through this resolver, so --help never goes stale.
    OmegaConf.register_new_resolver("vecc_options", _options_help, replace=True)

    def task(cfg: DictConfig) -> Any:
        import logging

        try:
            result = dispatch(cfg)
        except ConfigError as e:
            logging.getLogger(f"experiments.{kind}").error("config error: %s", e)
            sys.exit(2)
        if isinstance(result, int) and not isinstance(result, bool) and result != 0:
            sys.exit(result)  # an entry's int return is its exit status
        return result  # a float is what sweepers and optimisers read

    task.__module__ = __name__  # config_path is resolved relative to this module: ../conf
    return hydra.main(config_path="../conf", config_name=f"app_{kind}", version_base="1.3")(task)


def main_for(kind: str, name: str) -> Any:
    """Run app ``kind`` with ``kind=name`` prepended: an old module's ``python -m`` keeps working."""
    if not any(a.startswith(f"{kind}=") for a in sys.argv[1:]):
        sys.argv.insert(1, f"{kind}={name}")
    return make_main(kind)()


def options(kind: str) -> dict[str, str]:
    """Option name -> one-line description (the second comment line of conf/<kind>/<name>.yaml)."""
    _check_kind(kind)
    out = {}
    for path in sorted((conf_dir() / kind).glob("*.yaml")):
        lines = [ln for ln in path.read_text().splitlines() if ln.startswith("#")]
        described = [ln.lstrip("# ").strip() for ln in lines if not ln.startswith("# @package")]
        out[path.stem] = described[0] if described else ""
    return out


def list_options(cfg: DictConfig) -> None:
    """The default option of every app: print what ``<kind>=<option>`` can be."""
    kind = str(cfg.app.kind)
    print(f"vecc-{kind} {kind}=<option> [budget=default|quick|full] [field=value ...]; options:")
    for name, text in options(kind).items():
        if name != "list":
            print(f"  {name:24s} {text}")


def _options_help(kind: str) -> str:
    """``  kind=name   description`` lines for the help template (resolver ``vecc_options``)."""
    lines = [f"  {kind}={n:<24s} {d}" for n, d in options(kind).items() if n != "list"]
    return "\n".join(lines) or "  (none yet)"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(not_allowed("kind", kind, ", ".join(KINDS)))


def _compose(config_name: str, overrides: list[str]) -> DictConfig:
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return compose(config_name=config_name, overrides=overrides)
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)
