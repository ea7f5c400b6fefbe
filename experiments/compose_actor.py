"""Compose the acting policy with a runtime: quantization, latency source, scheduler, world-time mode.

Plain composition: quantization is ``quantization.policy.quantize_policy``, the latency sources
are ``ecc.runtime``'s, the scheduler is the ``scheduler`` group's object.

The policy group yields an actor. A VLA policy actor exposes its chunk policy (``.policy`` with
``predict_action_chunk``); the quantization group quantizes its model and puts a precision controller
in the loop; the runtime group then wraps the chunk policy so the world sees the configured
deployment's latency. The scripted expert acts directly (it has no inference to delay).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from ecc.config import context_from_config, network_from_config, planner_from_config
from ecc.emulated.deployment import EmulatedDeployment
from ecc.planners.base import make_context
from ecc.runtime import ConstantLatency, MeasuredLatency, SimulatedRuntime
from ecc.runtime.deployment import ModeledDeployment
from ecc.wire.config import WireConfig
from experiments.calibration import calibration_for
from experiments.config_checks import LATENCY_KINDS, RUNTIME_KINDS, ConfigError
from quantization.policy import quantize_policy

log = logging.getLogger(__name__)


def chunk_policy_of(actor: Any) -> Any | None:
    """The chunk policy inside a policy actor, or None for actors without one (scripted expert)."""
    policy = getattr(actor, "policy", None)
    return policy if callable(getattr(policy, "predict_action_chunk", None)) else None


def model_policy(policy: Any) -> Any:
    """The VLAPolicy under any wrappers (the object whose forward a split executor replaces)."""
    while not hasattr(policy, "forward_fn") and hasattr(policy, "policy"):
        policy = policy.policy
    return policy


def _calibration(cfg: DictConfig, policy: Any) -> Any:
    """SmoothQuant / QVLA calibrate on demonstration frames (+calibration.demos=...); others: None."""
    return calibration_for(cfg, model_policy(policy))


def build_latency_source(
    cfg: DictConfig, acting_shape: str | None, stage_precision: Callable[[Any], Any] | None = None
) -> Any:
    """The latency the world sees: modeled deployment, the acting policy's measured time, or a constant."""
    rt = cfg.runtime
    if rt.latency not in LATENCY_KINDS:
        raise ConfigError(f"runtime.latency={rt.latency!r}; allowed: {', '.join(LATENCY_KINDS)}")
    if rt.latency == "constant":
        return ConstantLatency(rt.constant_ms)
    if rt.latency == "measured":
        return MeasuredLatency(rt.measured_scale)
    arch = acting_shape if rt.architecture == "acting" else rt.architecture
    if arch is None:
        raise ConfigError(
            "runtime.architecture=acting needs a VLA policy (the expert has no shape)"
        )
    ctx = context_from_config(
        arch, cfg.hardware.edge, cfg.hardware.cloud, cfg.partition, rt.precision
    )
    precision_fn = None
    if stage_precision is not None:  # quantized: price each inference at the controller's bits
        stages = ctx.trace.stages
        precision_fn = lambda: stage_precision(stages)  # noqa: E731
    return ModeledDeployment(
        ctx,
        planner_from_config(cfg.partition),
        network_from_config(cfg.network),
        rt.jitter,
        rt.seed,
        precision_fn=precision_fn,
        episode_seeds=bool(rt.get("episode_seeds", False)),
    )


def build_emulated(cfg: DictConfig, policy: Any) -> Any:
    """Link + cloud server process + split client for ``runtime=emulated`` (started)."""
    rt = cfg.runtime
    planner = ctx = None
    if rt.cut is None:
        ctx = make_context(
            policy.shape.name, rt.planner_hardware, rt.planner_hardware, precision="fp32",
            direction=rt.direction, charge_io=True, granularity="block",
        )  # fmt: skip
        planner = planner_from_config(cfg.partition)
    return EmulatedDeployment(
        policy,
        checkpoint=cfg.policy.get("checkpoint"),
        network=network_from_config(cfg.network),
        wire=WireConfig.from_mapping(rt.wire),
        link_kind=rt.link,
        start_local=rt.start_local,
        host=rt.host,
        port=rt.port,
        startup_timeout_s=rt.startup_timeout_s,
        cut=rt.cut,
        direction=rt.direction,
        planner=planner,
        ctx=ctx,
        edge_has_weights=rt.edge_has_weights,
        reconnect_interval_s=rt.reconnect_interval_s,
    ).start()


def wrap_actor(cfg: DictConfig, actor: Any) -> tuple[Any, dict[str, Any], Callable[[], None]]:
    """The actor to put in the loop, a description of what runs it (for results.json), and a closer."""
    kind = cfg.runtime.kind
    if kind not in RUNTIME_KINDS:
        raise ConfigError(f"runtime.kind={kind!r}; allowed: {', '.join(RUNTIME_KINDS)}")
    policy = chunk_policy_of(actor)
    quantized = (
        cfg.get("quantization") is not None and cfg.quantization.get("name", "none") != "none"
    )
    if quantized and (kind == "none" or policy is None):
        # Quantization lives in the runtime's wrapper; silently acting unquantized would
        # mislabel every result of the run.
        raise ConfigError(
            f"quantization={cfg.quantization.name} needs runtime=simulated and a policy with a "
            f"model (got runtime={kind}, actor {type(actor).__name__}); allowed with this "
            "setting: quantization=none"
        )
    if kind == "none" or policy is None:
        if policy is None and kind != "none":
            log.info("runtime=%s ignored: %s acts directly", kind, type(actor).__name__)
        description = {"runtime": "none"}
        if callable(getattr(actor, "describe", None)):  # a remote policy says where it acts from
            description["acts_through"] = actor.describe()
        return actor, description, lambda: None
    scheduler = instantiate(cfg.scheduler)  # before anything that must be closed again
    model = policy.model
    if kind == "emulated":
        if quantized:
            raise ConfigError("runtime=emulated runs the model unquantized; use quantization=none")
        latency = build_emulated(cfg, model_policy(policy))
        quant: dict[str, Any] = {"name": "none"}
        close: Callable[[], None] = latency.close
    else:
        quantized_policy = quantize_policy(
            cfg.get("quantization"), policy, model, _calibration(cfg, policy) if quantized else None
        )
        policy, quant = quantized_policy.policy, quantized_policy.summary
        latency = build_latency_source(cfg, policy.shape.name, quantized_policy.stage_precision)
        close = lambda: None  # noqa: E731 - a modeled deployment holds nothing to release
    runtime = SimulatedRuntime(
        policy,
        latency,
        scheduler=scheduler,
        mode=cfg.runtime.mode,
        control_hz=cfg.runtime.control_hz,
        execute_horizon=cfg.runtime.execute_horizon,
        executor=instantiate(cfg.executor) if cfg.get("executor") is not None else None,
    )
    description: dict[str, Any] = {
        "runtime": kind,
        "world_time_mode": cfg.runtime.mode,
        "latency_source": getattr(latency, "label", type(latency).__name__),
        "scheduler": runtime.scheduler.name,
        "executor": runtime.executor.name if runtime.executor is not None else "scheduler",
        "quantization": quant,
    }
    if kind == "emulated":
        description["link"] = latency.link_description
    network = getattr(latency, "network", None)
    if hasattr(network, "describe"):  # both directions' schedules: file, bytes, sha256, mean
        description["network"] = network.describe()
    return runtime, description, close
