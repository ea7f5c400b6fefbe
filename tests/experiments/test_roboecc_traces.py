"""The real-trace RoboECC grid runs on any folder of Mahimahi up/down pairs."""

import json

from ecc.network.traces import markov, step, write_mahimahi
from experiments.apps import run_app
from experiments.roboecc_traces import find_pairs


def test_grid_on_a_folder_of_pairs(tmp_path):
    d = tmp_path / "traces"
    d.mkdir()
    write_mahimahi(step([20.0, 1.0], 5.0, 60.0), d / "stepper.up")
    write_mahimahi(step([40.0, 4.0], 5.0, 60.0), d / "stepper.down")
    write_mahimahi(markov(10.0, 0.5, 0.1, 0.2, 1.0, 60.0, seed=1), d / "lonely.up")  # no .down
    assert [n for n, _, _ in find_pairs(d)] == ["stepper"]
    out = tmp_path / "out"
    run_app(
        "table",
        "roboecc_traces",
        [f"traces={d}", f"out={out}", "actions=6", "granularity=block"],
    )
    for ext in ("md", "csv", "png", "json"):
        assert (out / f"traces.{ext}").is_file()
    rec = json.loads((out / "traces.json").read_text())
    assert rec["traces"][0]["up"]["sha256"]
    assert rec["traces"][0]["down"]["path"].endswith("stepper.down")
    assert len(rec["rows"]) == 4  # 2 models x 2 hardware pairs
    for r in rec["rows"]:
        assert r["oracle_ms"] <= r["edge_only_ms"] + 1e-6  # edge-only is one of the oracle's cuts
    assert "sha256" in (out / "traces.md").read_text()
