"""The one table writer every command uses: markdown for reading, CSV with every column."""

from __future__ import annotations

import csv

from experiments.tables import fmt, write_table


def test_markdown_shows_chosen_columns_csv_keeps_all(tmp_path):
    rows = [{"arm": "rapid", "ms": 34.123, "extra": 1}, {"arm": "edge", "ms": float("nan")}]
    md, path = write_table(tmp_path, "t", rows, ["arm", "ms"], title="Latency", notes=["modeled"])
    assert md.read_text().splitlines() == [
        "## Latency", "", "| arm | ms |", "|---|---|", "| rapid | 34.1 |", "| edge | - |", "",
        "- modeled",
    ]  # fmt: skip
    with path.open() as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == ["arm", "ms", "extra"]
    assert got[0]["ms"] == "34.123"
    assert got[1]["extra"] == ""
    assert fmt(None) == "-"
    assert fmt(1.23456, digits=None) == "1.23456"
