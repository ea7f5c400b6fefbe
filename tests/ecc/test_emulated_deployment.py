"""EmulatedDeployment against an in-process stage server: where the default cut splits, what
results.json's deployment block and each InferenceTiming record, and the WARNING when nothing
crossed the link (issue 25)."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from agents.zoo import TINY_SHAPES, random_inputs, random_model
from ecc.emulated import SplitExecutor, StageServer, module_order
from ecc.emulated.deployment import EmulatedDeployment
from ecc.errors import InvalidValueError
from ecc.network.config import Network
from ecc.network.link import LinkState
from ecc.planners import EdgeOnlyPlanner, make_context
from ecc.wire.config import WireConfig

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-for-the-emulated-deployment"
DEFAULT_CUT = OmegaConf.load(ROOT / "conf/runtime/emulated.yaml").cut


@pytest.fixture
def wire(monkeypatch) -> WireConfig:
    monkeypatch.setenv("VECC_WIRE_SECRET", SECRET)
    return WireConfig(connect_timeout_s=2.0, read_timeout_s=10.0, retries=0)


def _deployment(model, server, wire, **kw) -> EmulatedDeployment:
    host, port = server.address
    policy = SimpleNamespace(model=model, forward_fn=None)
    net = Network(LinkState(up_mbps=10.0, down_mbps=10.0, delay_ms=1.0))
    return EmulatedDeployment(policy, checkpoint=None, network=net, wire=wire, start_local=False,
                              host=host, port=port, **kw)  # fmt: skip


def test_default_cut_of_the_emulated_runtime_splits_every_tiny_policy():
    """conf/runtime/emulated.yaml's cut leaves the vision encoder on the edge and the rest remote."""
    assert DEFAULT_CUT is not None  # null lets the one-CPU planner keep everything on the edge
    for name in TINY_SHAPES:
        model = random_model(name)
        dep = EmulatedDeployment(SimpleNamespace(model=model), checkpoint=None, network=None,
                                 wire=None, start_local=False, cut=DEFAULT_CUT)  # fmt: skip
        dep.executor = SplitExecutor(model, None)
        modules = module_order(model.stages())
        n = dep._resolve_fixed_cut(DEFAULT_CUT)
        assert 0 < n < len(modules), name
        assert modules[n - 1] == "projector", name
        assert all(m.startswith("towers.") for m in modules[: n - 1]), name


def test_fixed_cut_by_name_crosses_the_link_and_every_record_says_so(wire, caplog):
    model = random_model("oft-tiny")
    inputs = random_inputs(model.shape, seed=1)
    with StageServer(model, wire.codec()) as server:
        dep = _deployment(model, server, wire, cut="projector").start()
        try:
            split = dep.link_description["split"]
            assert split["cut"] == "after:projector"
            assert split["edge_modules"][-1] == "projector"
            assert split["cloud_modules"][0] == "embed"
            assert split["cloud_modules"][-1] == "action_head"
            for _ in range(3):
                dep.policy.forward_fn(inputs)
                t = dep.charge(0.0, 0.0)
                assert t.round_trips == 1
                assert t.bytes_up > 0
                assert t.bytes_down > 0
                assert t.cut == "after:projector"
                assert t.cloud_ms > 0
                assert not t.fallback
        finally:
            with caplog.at_level(logging.WARNING, logger="ecc.emulated.deployment"):
                dep.close()
    traffic = dep.link_description["traffic"]
    assert traffic["inferences"] == traffic["over_link"] == traffic["round_trips"] == 3
    assert traffic["bytes_up"] == 3 * t.bytes_up
    assert traffic["bytes_down"] == 3 * t.bytes_down
    assert traffic["cuts"] == {"after:projector": 3}
    assert "nothing_crossed" not in traffic
    assert "nothing crossed" not in caplog.text


@pytest.mark.parametrize(
    ("cut", "expected"),
    [(7, 7), ("7", 7), ("projector", 7), ("llm.layers.0", 9), ("llm.prefill.layer0", 9), (0, 0)],
)
def test_fixed_cut_accepts_a_count_a_module_or_a_stage_name(cut, expected):
    model = random_model("oft-tiny")
    dep = EmulatedDeployment(SimpleNamespace(model=model), checkpoint=None, network=None,
                             wire=None, start_local=False, cut=cut)  # fmt: skip
    dep.executor = SplitExecutor(model, None)
    assert dep._resolve_fixed_cut(cut) == expected


@pytest.mark.parametrize("cut", ["vision", 15, -1, True])
def test_an_unknown_fixed_cut_names_the_field_and_the_choices(cut):
    model = random_model("oft-tiny")
    dep = EmulatedDeployment(SimpleNamespace(model=model), checkpoint=None, network=None,
                             wire=None, start_local=False, cut=cut)  # fmt: skip
    dep.executor = SplitExecutor(model, None)
    with pytest.raises(InvalidValueError, match=r"runtime\.cut"):
        dep._resolve_fixed_cut(cut)


def test_a_planner_that_keeps_every_stage_on_the_edge_warns_that_nothing_crossed(wire, caplog):
    model = random_model("oft-tiny")
    inputs = random_inputs(model.shape, seed=2)
    ctx = make_context("oft-tiny", "local_cpu", "local_cpu", precision="fp32", granularity="block")
    with StageServer(model, wire.codec()) as server:
        dep = _deployment(model, server, wire, planner=EdgeOnlyPlanner(), ctx=ctx).start()
        try:
            assert dep.link_description["split"]["cloud_modules"] == []
            dep.policy.forward_fn(inputs)
            t = dep.charge(0.0, 0.0)
            assert t.round_trips == 0
            assert t.bytes_up == t.bytes_down == 0
            assert t.cut == "after:head"  # the trace unit's name, as the simulated runtime has it
        finally:
            with caplog.at_level(logging.WARNING, logger="ecc.emulated.deployment"):
                dep.close()
            dep.close()  # closing twice warns once
    warnings = [r for r in caplog.records if "nothing crossed the link" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "kept every stage on the edge" in warnings[0].getMessage()
    assert "runtime.cut=projector" in warnings[0].getMessage()
    assert dep.link_description["traffic"]["round_trips"] == 0
    assert "kept every stage" in dep.link_description["traffic"]["nothing_crossed"]


def test_split_outputs_equal_the_local_forward(wire):
    """The default cut changes where stages run, not the actions."""
    model = random_model("oft-tiny")
    inputs = random_inputs(model.shape, seed=3)
    with torch.no_grad():
        ref = SplitExecutor(model, None).run(inputs)[0]
    with StageServer(model, wire.codec()) as server:
        dep = _deployment(model, server, wire, cut=DEFAULT_CUT).start()
        try:
            out = dep.policy.forward_fn(inputs)
        finally:
            dep.close()
    for k in ref:
        torch.testing.assert_close(out[k], ref[k], rtol=0, atol=1e-6)
