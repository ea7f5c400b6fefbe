"""Exporting a checkpoint into the repository: the files a policy needs plus what made it."""

from __future__ import annotations

import json

from agents.policy import load_policy
from experiments.export_policy import export


def test_export_copies_policy_and_pools_the_evaluation(tmp_path, random_checkpoint):
    runs = tmp_path / "eval"
    for part, outcomes in (("0", [True, False]), ("1", [True])):
        (runs / part).mkdir(parents=True)
        rows = [
            {"suite": "object", "task": f"t{part}", "success": ok, "steps": 10} for ok in outcomes
        ]
        (runs / part / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    dst = export(random_checkpoint, tmp_path / "checkpoints" / "oft_tiny", runs)
    assert sorted(p.name for p in dst.iterdir()) == [
        "config.json", "model.safetensors", "provenance.json", "stats.json", "tokenizer.json",
    ]  # fmt: skip
    assert load_policy(dst).shape.name == "oft-tiny"
    rec = json.loads((dst / "provenance.json").read_text())
    loop = rec["closed_loop"]
    assert (loop["successes"], loop["episodes"]) == (2, 3)
    assert loop["per_task"]["object/t0"] == {"successes": 1, "episodes": 2}
    assert 0 < loop["success_ci95"][0] < 2 / 3 < loop["success_ci95"][1] < 1
    assert rec["exported_by"]["git"]
    assert rec["train_seconds"] is None  # the fixture was never trained
