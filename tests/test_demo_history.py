"""bench/demo.py keeps every fresh-clone record as a row of results/demo_history.json, newest
first, and tables it with the test counts read from pytest's summary line."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import demo  # noqa: E402


def record(commit: str, summary: str, recall: float = 0.0572) -> dict:
    return {"commit": commit * 40, "date": "2026-12-07", "wall_time_s": 299.7, "exit_code": 0,
            "test": {"recall@10": recall}, "train": {"steps": 1646, "samples_per_s": 832.5},
            "make_test": {"wall_time_s": 272.3, "exit_code": 0, "summary": [summary]},
            "hardware": {"cpu": "AMD EPYC"}}


def test_a_row_reads_pytests_counts_and_a_failure_stands_out():
    row = demo.history_row(record("a", "238 passed, 7 skipped, 16 warnings in 268.00s (0:04:27)"))
    assert (row["commit"], row["passed"], row["skipped"], row["failed"]) == ("aaaaaaa", 238, 7, 0)
    failing = demo.history_row(record("b", "1 failed, 237 passed, 7 skipped in 270.1s"))
    assert (failing["passed"], failing["failed"]) == (237, 1)
    table = demo.history_table([failing, row])
    assert "| bbbbbbb | 5 min 0 s | 1,646 (832 samples/s) | .057 | 4 min 32 s, 237 passed, 7 skipped, **1 failed** |" in table
    assert demo.history_row({**record("c", ""), "make_test": None})["failed"] is None  # demo only: no test counts


def test_a_new_record_goes_first_and_replaces_its_commits_earlier_one(tmp_path):
    demo.add_to_history(record("a", "200 passed"), tmp_path)
    demo.add_to_history(record("b", "210 passed"), tmp_path)
    demo.add_to_history(record("a", "201 passed", recall=0.06), tmp_path)  # the same commit measured again
    rows = json.loads((tmp_path / "demo_history.json").read_text())["rows"]
    assert [(r["commit"], r["passed"]) for r in rows] == [("aaaaaaa", 201), ("bbbbbbb", 210)]
    assert (tmp_path / "demo_history.md").read_text().splitlines()[2].startswith("| aaaaaaa |")
