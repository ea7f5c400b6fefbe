"""Every registered extension passes its contract checker, and each checker catches a broken one.

Entries: every conf/partition, conf/scheduler and conf/quantization yaml (what a run can select),
every registered VLA family with each of its zoo shapes, plus coverage checks that every
built-in registry entry has a yaml and every yaml names a registered entry.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hydra.utils import instantiate

from agents import zoo
from agents.families import FAMILIES
from core.registry import resolve
from ecc.cost import Partition
from ecc.family_checker import FamilyContractError, check_family
from ecc.planners import Plan, Planner
from ecc.planners.checker import PlannerContractError, check_planner, default_contexts
from ecc.planners.registry import PLANNERS
from ecc.schedulers import PLAY, Decision, SchedulerBase
from ecc.schedulers.checker import SchedulerContractError, check_scheduler
from ecc.schedulers.safe import fit
from quantization.checker import QuantizerContractError, check_quantizer
from quantization.methods import METHODS, Prepared, QuantMethod

CONF = Path(__file__).resolve().parents[1] / "conf"
# Fewer shapes than the checker's default keep CI short; every family is still covered.
PLANNER_SHAPES = ("openvla-7b", "pi0-3b", "cogact-base", "oft-tiny")


def _yamls(group: str) -> list[Path]:
    return sorted((CONF / group).glob("*.yaml"))


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


# ------------------------------------------------------------------------------ planners
@pytest.mark.parametrize("path", _yamls("partition"), ids=lambda p: p.stem)
def test_every_partition_yaml_passes_check_planner(path):
    c = _load(path)
    ctxs = default_contexts(PLANNER_SHAPES, c["granularity"], c["direction"], c["charge_io"])
    check_planner(lambda: instantiate(c["planner"], _convert_="all"), ctxs)


def test_every_builtin_planner_has_a_partition_yaml():
    targets = {resolve(_load(p)["planner"]["_target_"]) for p in _yamls("partition")}
    builtin = {cls for _, cls in PLANNERS.items() if cls.__module__.startswith("ecc.")}
    assert len(builtin) >= 7
    assert builtin <= targets
    assert all(issubclass(t, Planner) and t.name in PLANNERS for t in targets)


class _WrongLength(Planner):
    name = "test_contracts_wrong_length"

    def plan(self, ctx, link):
        return Plan(Partition((False,) * (ctx.trace.n_units - 1), None), 1.0, self.name)


class _Random(Planner):
    name = "test_contracts_random"

    def plan(self, ctx, link):
        cut = int(np.random.default_rng().integers(0, ctx.trace.n_units + 1))
        return Plan(ctx.partition(cut), float(ctx.costs.latency_ms(link)[cut]), self.name)


class _IgnoresMemory(Planner):
    name = "test_contracts_ignores_memory"  # claims to respect budgets, runs all on the edge

    def plan(self, ctx, link):
        cut = ctx.trace.n_units
        return Plan(ctx.partition(cut), float(ctx.costs.latency_ms(link)[cut]), self.name)


@pytest.mark.parametrize(
    ("cls", "match"),
    [(_WrongLength, "places"), (_Random, "deterministic"), (_IgnoresMemory, "over the budget")],
)
def test_check_planner_catches_a_broken_planner(cls, match):
    with pytest.raises(PlannerContractError, match=match):
        check_planner(cls, default_contexts(("openvla-7b", "oft-tiny")))


# ---------------------------------------------------------------------------- schedulers
@pytest.fixture(scope="module")
def failure_calibration(tmp_path_factory):
    feats = np.random.default_rng(0).normal(size=(64, 16))  # the checker reports 16 features
    return str(fit(feats).save(tmp_path_factory.mktemp("safe") / "calibration.npz"))


@pytest.mark.parametrize("path", _yamls("scheduler"), ids=lambda p: p.stem)
def test_every_scheduler_yaml_passes_check_scheduler(path, failure_calibration):
    c = _load(path)
    if "calibration" in c:  # SAFE reads its Gaussian from a file
        c["calibration"] = failure_calibration
    check_scheduler(lambda: instantiate(c, _convert_="all"))


class _NeverInfers(SchedulerBase):
    name = "never"

    def decide(self, ctx):
        return self.record(ctx.step, PLAY)


class _KeepsStateAcrossReset(SchedulerBase):
    name = "sticky"

    def __init__(self):
        super().__init__()
        self.calls = 0  # never reset: the second episode decides differently

    def decide(self, ctx):
        self.calls += 1
        return Decision(infer=ctx.queue_len == 0 or self.calls % 7 == 0)


class _BarePreempt(SchedulerBase):
    name = "bare_preempt"

    def decide(self, ctx):
        if ctx.queue_len == 0 and not ctx.pending:
            return Decision(infer=True)
        return Decision(preempt=ctx.step % 5 == 0)


class _BadTarget(SchedulerBase):
    name = "bad_target"

    def decide(self, ctx):
        return Decision(infer=True, target="moon")


@pytest.mark.parametrize(
    ("cls", "match"),
    [
        (_NeverInfers, "no request"),
        (_KeepsStateAcrossReset, "after reset"),
        (_BarePreempt, "preempt without a request"),
        (_BadTarget, "target='moon'"),
    ],
)
def test_check_scheduler_catches_a_broken_scheduler(cls, match):
    with pytest.raises(SchedulerContractError, match=match):
        check_scheduler(cls)


# ---------------------------------------------------------------------------- quantizers
@pytest.mark.parametrize("path", _yamls("quantization"), ids=lambda p: p.stem)
def test_every_quantization_yaml_passes_check_quantizer(path):
    c = _load(path)
    if c["name"] == "qvla":  # the contract, not the allocation quality: fewer probes
        c["qvla"] = {**c.get("qvla", {}), "probes": 1, "calib_batches": 1}
    check_quantizer(c, shapes=("pi0-tiny",))


def test_every_builtin_method_has_a_yaml_and_every_yaml_a_method():
    names = {_load(p)["name"] for p in _yamls("quantization")}
    assert names <= set(METHODS)
    assert {"none", "w8a8", "w4a16", "w4a4", "smoothquant", "qvla", "dyq"} <= names


class _ThreeBits:
    bits, timeline = 16, []

    def reset(self):
        self.timeline = []

    def update(self, actions):
        self.bits = 3  # not a precision any kernel runs
        self.timeline.append(3)
        return 3

    def histogram(self):
        return {3: 1.0}


def _random_smoothing(model, targets, calibration, cfg):
    return Prepared(input_scales={n: 1 + torch.rand(t.in_features) for n, t in targets.items()})


def test_check_quantizer_catches_a_broken_method():
    broken = QuantMethod("test_contracts_three_bits", controller=lambda cfg, model: _ThreeBits())
    METHODS.add(broken.name, broken)
    try:
        with pytest.raises(QuantizerContractError, match="bits=3"):
            check_quantizer({"name": broken.name, "weight_bits": 8, "act_bits": 8}, ("pi0-tiny",))
        noisy = QuantMethod("test_contracts_noisy", prepare=_random_smoothing)
        METHODS.add(noisy.name, noisy)  # unseeded: two quantized copies differ
        with pytest.raises(QuantizerContractError, match="disagree"):
            check_quantizer({"name": noisy.name, "weight_bits": 8, "act_bits": 8}, ("pi0-tiny",))
    finally:
        for name in ("test_contracts_three_bits", "test_contracts_noisy"):
            if name in METHODS:
                METHODS.remove(name)


# ------------------------------------------------------------------------------ families
@pytest.mark.parametrize("name", zoo.list_shapes())
def test_every_family_shape_passes_check_family(name):
    check_family(name)


def test_every_registered_family_has_a_shape_and_a_policy_yaml():
    families = {zoo.get_shape(n).family for n in zoo.list_shapes()}
    assert set(FAMILIES) <= families
    policies = {_load(p).get("shape") for p in _yamls("policy")}
    assert {f"{f}-tiny" for f in FAMILIES} <= policies


def test_check_family_catches_a_broken_entry():
    shape = zoo.get_shape("oft-tiny")
    spec = FAMILIES.get("oft")
    try:  # the registry says one placeholder per chunk step, the model has one per value
        FAMILIES.add("oft", replace(spec, extra_tokens=lambda s: s.head.chunk), replace=True)
        with pytest.raises(FamilyContractError, match="extra LLM tokens"):
            check_family(shape)
    finally:
        FAMILIES.add("oft", spec, replace=True)
