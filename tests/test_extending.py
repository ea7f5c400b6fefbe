"""docs/extending.md's worked examples, run: each tagged code block is executed as the module it
would be, its YAML written to tmp_path, and the result passes its contract checker.

Acceptance (issue 19, item 3): a planner, a scheduler and a quantizer each added from this file
plus one YAML pass ``check_planner`` / ``check_scheduler`` / ``check_quantizer``; a new VLA family
passes ``check_family`` and docs/extending.md names at most four files for it.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra.utils import instantiate

from agents.families import FAMILIES
from agents.shapes import SHAPES
from agents.zoo import get_shape, random_model
from ecc.family_checker import check_family
from ecc.network.link import LinkState
from ecc.planners import make_planner
from ecc.planners.checker import check_planner, default_contexts
from ecc.planners.registry import PLANNERS
from ecc.schedulers import StepContext
from ecc.schedulers.checker import check_scheduler
from ecc.trace import build_trace
from envs.make import make_env
from envs.suites import EPISODE_LIMITS, SUITES
from experiments.make_init_states import make_states
from quantization import quantize_model
from quantization.checker import check_quantizer
from quantization.config import method_config
from quantization.errors import QuantConfigError
from quantization.methods import METHODS

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
BLOCK = re.compile(r"```(python|yaml) extending:(\w+)\n(.*?)```", re.S)


def blocks(tag: str, lang: str) -> list[str]:
    """The doc's ``lang`` blocks tagged ``extending:<tag>``, in order."""
    found = [code for lg, t, code in BLOCK.findall(DOC.read_text()) if lg == lang and t == tag]
    assert found, f"docs/extending.md has no ```{lang} extending:{tag} block"
    return found


@pytest.fixture
def doc_module(tmp_path, monkeypatch):
    """Write a tag's python blocks to ``tmp_path/<name>.py`` (what a user's file would be) and put
    ``tmp_path`` on ``sys.path``; ``load`` imports it, as Hydra's ``_target_`` or
    ``quantization.plugin`` would."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def write(tag: str, name: str, prelude: str = "") -> str:
        (tmp_path / f"{name}.py").write_text(prelude + "\n\n".join(blocks(tag, "python")))
        made.append(name)
        return name

    def load(tag: str, name: str, prelude: str = "") -> types.ModuleType:
        return importlib.import_module(write(tag, name, prelude))

    load.write = write
    yield load
    for name in made:
        sys.modules.pop(name, None)


def doc_yaml(tag: str, tmp_path: Path, filename: str) -> dict:
    """Write the tag's yaml block to ``tmp_path/filename`` and load it back."""
    path = tmp_path / filename
    path.write_text(blocks(tag, "yaml")[0])
    return yaml.safe_load(path.read_text())


def test_planner_from_the_doc_passes_check_planner(doc_module, tmp_path):
    doc_module("planner", "my_planner")
    try:
        c = doc_yaml("planner", tmp_path, "least_bytes.yaml")
        assert type(make_planner("least_bytes")).__name__ == "LeastBytesPlanner"  # registered
        ctxs = default_contexts(("openvla-7b", "pi0-tiny"), c["granularity"], c["direction"])
        check_planner(lambda: instantiate(c["planner"], _convert_="all"), ctxs)
        ctx = ctxs[0]
        plan = instantiate(c["planner"]).plan(ctx, LinkState(10.0, 10.0))
        t = ctx.costs.transfers
        moved = (t.bytes_up + t.bytes_down)[ctx.feasible()]
        assert (t.bytes_up + t.bytes_down)[plan.cut] == moved.min()  # it does what it says
    finally:
        PLANNERS.remove("least_bytes")


def test_scheduler_from_the_doc_passes_check_scheduler(doc_module, tmp_path):
    doc_module("scheduler", "my_scheduler")
    c = doc_yaml("scheduler", tmp_path, "latency_aware_queue.yaml")
    check_scheduler(lambda: instantiate(c, _convert_="all"))
    sched = instantiate(c)
    slow = StepContext(5, 4, 8, 4, False, {}, {}, {"infer_ms": 80.0})
    fast = StepContext(5, 4, 8, 4, False, {}, {}, {"infer_ms": 5.0})
    assert sched.decide(slow).infer
    assert not sched.decide(fast).infer


def test_quantizer_from_the_doc_passes_check_quantizer(doc_module, tmp_path):
    doc_module.write("quantizer", "my_quantizer")  # imported by the yaml's plugin field
    try:
        c = doc_yaml("quantizer", tmp_path, "outlier_w4.yaml")
        assert "outlier_w4" in method_config(c).name
        assert "outlier_w4" in METHODS  # registered by importing the plugin module
        check_quantizer(c, shapes=("pi0-tiny",))
        with pytest.raises(QuantConfigError, match="keep_frac"):
            method_config({**c, "options": {"keep_frac": 2.0}})
        report = quantize_model(random_model("pi0-tiny"), c)
        bits = [info["weight_bits"] for info in report.layers.values()]
        assert {4, 8} <= set(bits)  # the outlier-heavy share kept at 8 bits
    finally:
        if "outlier_w4" in METHODS:
            METHODS.remove("outlier_w4")


def test_family_from_the_doc_passes_check_family_in_at_most_four_files(doc_module):
    doc_module("family", "my_family")
    try:
        check_family("vl-openvla-tiny")
        vl, base = get_shape("vl-openvla-tiny"), get_shape("openvla-tiny")
        assert vl.llm_tokens == base.llm_tokens - 1  # no proprio token: one fact, one owner
        assert build_trace(vl).meta["prefix_tokens"] == vl.llm_tokens
        section = DOC.read_text().split("## A VLA family", 1)[1].split("\n## ", 1)[0]
        assert len(re.findall(r"^\d+\. `", section, re.M)) <= 4
    finally:
        SHAPES.pop("vl-openvla-tiny", None)
        FAMILIES.remove("vl_openvla")


def test_task_and_suite_from_the_doc_make_an_env(doc_module, tmp_path, monkeypatch):
    doc_module("task", "my_task")
    suite = doc_module("suite", "my_suite", prelude="from my_task import LEMON_IN_BASKET\n")
    c = doc_yaml("suite", tmp_path, "tabletop.yaml")
    monkeypatch.setitem(SUITES, suite.SUITE, {t.name: t for t in suite.tasks()})
    monkeypatch.setitem(EPISODE_LIMITS, suite.SUITE, 300)
    task_name = "lemon_beside_milk_in_basket"
    states, _ = make_states(c["suite"], task_name, n=2)  # the generated init states, in memory
    env = make_env(c["suite"], task_name, render=c["render"], image_size=c["image_size"], seed=0,
                   init_states=states)  # fmt: skip
    try:
        _, info = env.reset(seed=0)
        assert info["language"] == "pick up the lemon and place it in the basket"
        _, reward, terminated, _, _ = env.step(np.zeros(env.action_space.shape))
        assert reward == 0.0
        assert not terminated  # the lemon is not in the basket after one step
        assert env.unwrapped.task.name == "lemon_beside_milk_in_basket"
    finally:
        env.close()
