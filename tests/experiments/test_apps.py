"""The Hydra apps: help lists every group and option, tab completion answers, budgets are checked."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.apps import KINDS, compose_app, compose_main, dispatch, options, run_app
from experiments.config_checks import ConfigError

ROOT = Path(__file__).resolve().parents[2]
MAIN_GROUPS = ("env", "policy", "runtime", "scheduler", "partition", "network", "link",
               "quantization", "logger", "hardware")  # fmt: skip


def _run(module: str, *args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_run_help_describes_every_group_and_option():
    text = _run("experiments.run", "--help")
    lines = {ln.split()[0]: ln for ln in text.splitlines() if ln and not ln.startswith(" ")}
    for group in MAIN_GROUPS:
        described = [ln for key, ln in lines.items() if key.split("@")[0] == group]
        assert described, f"group {group} missing from vecc-run --help"
        for option in sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml")):
            if group == "hardware":
                continue  # the two hardware lines name the common profiles and end with "..."
            assert f" {option}" in described[0], f"{group}={option} missing from --help"


@pytest.mark.parametrize("kind", KINDS)
def test_app_help_lists_every_option(kind):
    text = _run(f"experiments.{kind}", "--help")
    for name in options(kind):
        if name != "list":
            assert f"{kind}={name}" in text, f"{kind}={name} missing from vecc-{kind} --help"
    assert "budget" in text


def test_bash_completion_returns_group_names():
    # What Hydra's bash completion function runs on <TAB>: the app with -sc query=bash and COMP_LINE.
    groups = _run(
        "experiments.run", "-sc", "query=bash", env={"COMP_LINE": "vecc-run ", "COMP_POINT": "9"}
    ).split()
    for group in ("env=", "policy=", "scheduler=", "quantization=", "network="):
        assert group in groups
    options_w = _run(
        "experiments.run", "-sc", "query=bash", env={"COMP_LINE": "vecc-run quantization=w"}
    ).split()
    assert set(options_w) == {"quantization=w4a16", "quantization=w4a4", "quantization=w8a8"}
    tables = _run(
        "experiments.table", "-sc", "query=bash", env={"COMP_LINE": "vecc-table table=r"}
    ).split()
    assert "table=roboecc" in tables


@pytest.mark.skipif(shutil.which("vecc-run") is None, reason="console scripts not installed")
def test_installed_bash_completion_function_fills_compreply(tmp_path):
    # The whole path bash takes on <TAB>: the installed completion function, run outside the checkout.
    script = """
eval "$(vecc-run -sc install=bash)"
COMP_LINE="vecc-run quantization=w"; COMP_POINT=${#COMP_LINE}
COMP_WORDS=(vecc-run quantization=w); COMP_CWORD=1
hydra_bash_completion; echo "${COMPREPLY[*]}"
"""
    out = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert set(out.stdout.split()) == {
        "quantization=w4a16",
        "quantization=w4a4",
        "quantization=w8a8",
    }


def test_budget_picks_presets_and_explicit_fields_win():
    quick = compose_app("table", "roboecc", ["budget=quick", "out=x"])
    assert list(quick.bandwidths) == [5, 20, 100, 1000]
    assert quick.granularity == "block"
    mixed = compose_app("table", "roboecc", ["budget=quick", "actions=7", "out=x"])
    assert mixed.actions == 7
    assert mixed.granularity == "block"


def test_unknown_budget_names_the_allowed_values(tmp_path):
    cfg = compose_app("table", "roboecc", [f"out={tmp_path}"])
    cfg.budget = "huge"  # not an option of the budget group; a hand-built config could still say it
    with pytest.raises(ConfigError, match=r"budget='huge'.*allowed: default, quick, full"):
        dispatch(cfg)
    listing = compose_app("table", "list", ["budget=quick", "out=x"])
    with pytest.raises(ConfigError, match=r"budget='quick'.*allowed: default"):
        dispatch(listing)


def test_compose_main_is_the_main_job_config():
    cfg = compose_main(["env=goal", "quantization=dyq"])
    assert cfg.env.suite == "goal"
    assert cfg.quantization.name == "dyq"


def test_list_is_the_default_option(capsys):
    run_app("table", "list", ["out=x"])
    assert "roboecc" in capsys.readouterr().out


def test_a_table_sweeps_with_multirun(tmp_path):
    _run("experiments.table", "-m", "table=roboecc", "bandwidths=[5],[100]", "granularity=block",
         "skip_adaptive=true", f"hydra.sweep.dir={tmp_path}")  # fmt: skip
    jobs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert jobs == ["0_roboecc_table", "1_roboecc_table"]  # sweep subdir: job number + app name
    for job, bw in zip(jobs, ("5.0", "100.0")):
        rows = (tmp_path / job / "speedup.csv").read_text().splitlines()[1:]
        assert {r.split(",")[4] for r in rows} == {bw}  # each job wrote into its own dir
