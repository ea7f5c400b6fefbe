"""Start-up validation of the run config: fail before anything runs, naming the field and allowed values."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

from agents.actor import resolve_checkpoint
from core.errors import VeccError, not_allowed
from ecc.wire.codec import SECRET_ENV, secret_from_env
from quantization.methods import METHODS, get_method

NUM_INIT_STATES = 50  # LIBERO: 50 fixed initial states per task
RUNTIME_KINDS = ("simulated", "emulated", "none")
LATENCY_KINDS = ("modeled", "measured", "constant")
WORLD_TIME_MODES = ("blocking", "realtime")


class ConfigError(VeccError):
    """A config value is invalid; the message names the field, the value and what is allowed."""


@dataclass(frozen=True)
class EvalPlan:
    suite: str
    tasks: tuple[str, ...]
    init_states: tuple[int, ...]
    max_episode_steps: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_eval_plan(cfg: DictConfig) -> EvalPlan:
    """Check env.* and eval.* against what the environments offer and expand defaults."""
    # lazy: envs loads robosuite (~1 s); every app imports this module, most never check env.*
    import envs

    suites = envs.list_suites()
    suite = cfg.env.suite
    if suite not in suites:
        raise ConfigError(f"env.suite={suite!r} is unknown; allowed: {', '.join(suites)}")
    known = envs.list_tasks(suite)
    tasks = known if cfg.env.tasks is None else list(cfg.env.tasks)
    if isinstance(cfg.env.tasks, str):
        tasks = [cfg.env.tasks]
    for task in tasks:
        if task not in known:
            raise ConfigError(
                f"env.tasks contains {task!r}, not a task of suite {suite!r}; allowed: {', '.join(known)}"
            )
    if not tasks:
        raise ConfigError("env.tasks is empty; give task names or null for all tasks")
    max_tasks = cfg.eval.get("max_tasks")
    if max_tasks is not None:
        if not isinstance(max_tasks, int) or isinstance(max_tasks, bool) or max_tasks < 1:
            raise ConfigError(
                f"eval.max_tasks={max_tasks!r} must be a positive integer or null (all tasks)"
            )
        tasks = tasks[:max_tasks]
    levels = tuple(envs.PERTURBATION_LEVELS)
    if cfg.env.perturbation not in levels:
        raise ConfigError(
            f"env.perturbation={cfg.env.perturbation!r} is unknown; allowed: {', '.join(levels)}"
        )
    size = cfg.env.image_size
    if not isinstance(size, int) or isinstance(size, bool) or size < 8 or size > 1024:
        raise ConfigError(f"env.image_size={size!r} must be an integer in [8, 1024] (pixels)")
    _check_seed(cfg)
    _check_checkpoint(cfg)
    _check_runtime(cfg)
    check_calibration(cfg)
    init_states = _init_states(cfg.eval.init_states)
    limit = cfg.eval.max_episode_steps
    if limit is None:
        limit = envs.episode_limit(suite)
    elif not isinstance(limit, int) or limit <= 0:
        raise ConfigError(f"eval.max_episode_steps={limit!r} must be a positive integer or null")
    return EvalPlan(suite, tuple(tasks), init_states, int(limit))


def _check_seed(cfg: DictConfig) -> None:
    seed = cfg.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(not_allowed("seed", seed, "an integer >= 0"))


def _check_checkpoint(cfg: DictConfig) -> None:
    """A policy checkpoint that is named must be a checkpoint directory (checked before any write)."""
    policy = cfg.get("policy")
    path = policy.get("checkpoint") if policy is not None else None
    if path is None:
        return
    found = resolve_checkpoint(path)
    if not (found / "config.json").is_file():
        raise ConfigError(
            not_allowed(
                "policy.checkpoint",
                path,
                "a checkpoint directory holding config.json (e.g. checkpoints/object/pi0_tiny)",
            )
        )


def _check_runtime(cfg: DictConfig) -> None:
    rt = cfg.get("runtime")
    if rt is None:
        return
    checks = [("runtime.kind", rt.get("kind"), RUNTIME_KINDS)]
    if rt.get("kind") != "none":
        checks.append(("runtime.mode", rt.get("mode"), WORLD_TIME_MODES))
    if rt.get("kind") == "simulated":
        checks.append(("runtime.latency", rt.get("latency"), LATENCY_KINDS))
    for field, value, allowed in checks:
        if value not in allowed:
            raise ConfigError(f"{field}={value!r} is unknown; allowed: {', '.join(allowed)}")
    if rt.get("kind") == "emulated":
        # Checked here, not when the server starts (seconds later, as a traceback).
        var = (rt.get("wire") or {}).get("secret_env") or SECRET_ENV
        try:
            secret_from_env(var)
        except VeccError as e:
            raise ConfigError(f"runtime=emulated needs the wire secret: {e}") from None
    quant = cfg.get("quantization")
    name = quant.get("name", "none") if quant is not None else "none"
    if name != "none" and rt.get("kind") in ("none", "emulated"):
        # Quantization is applied by the simulated runtime's wrapper; any other kind would act
        # unquantized while the results say otherwise.
        raise ConfigError(
            f"quantization.name={name!r} needs runtime.kind='simulated' (got "
            f"runtime.kind={rt.get('kind')!r}); allowed with runtime.kind={rt.get('kind')!r}: "
            "quantization=none"
        )


def check_calibration(cfg: DictConfig) -> str | None:
    """Demonstrations path of a quantization method that calibrates; None for the others.

    Checked at start-up: a method that calibrates on demonstration frames needs
    ``+calibration.demos`` pointing at an existing file.
    """
    quant = cfg.get("quantization")
    name = quant.get("name", "none") if quant is not None else "none"
    if name not in METHODS or not get_method(name).needs_calibration:
        return None  # an unknown name is method_config's error, named there
    demos = (cfg.get("calibration") or {}).get("demos")
    if not demos:
        raise ConfigError(
            f"quantization={name} calibrates on demonstration frames: add "
            "+calibration.demos=<demos.hdf5> (e.g. data/object_50.hdf5); allowed without it: "
            "quantization=none, bf16, w8a8, w4a16, w4a4, dyq"
        )
    if not Path(demos).is_file():
        raise ConfigError(f"calibration.demos={demos!r} is not a file (quantization={name})")
    return str(demos)


def _init_states(value: Any) -> tuple[int, ...]:
    allowed = f"an int in [1, {NUM_INIT_STATES}] or a list of ids in [0, {NUM_INIT_STATES - 1}]"
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= NUM_INIT_STATES:
            raise ConfigError(f"eval.init_states={value!r}; allowed: {allowed}")
        return tuple(range(value))
    if isinstance(value, list | tuple | ListConfig):
        ids = tuple(value)
        if not ids or any(not isinstance(i, int) or not 0 <= i < NUM_INIT_STATES for i in ids):
            raise ConfigError(f"eval.init_states={list(ids)!r}; allowed: {allowed}")
        return ids
    raise ConfigError(f"eval.init_states={value!r}; allowed: {allowed}")
