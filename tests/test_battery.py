"""A sample of the bad-input battery (bench/battery.py runs all of it): each case exits 2 with a
message naming the key or file, and leaves every file of the workspace as it was."""

import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

from battery import run_battery  # noqa: E402

SAMPLE = [  # one per kind: config on an existing run, data, recommend, artefacts, resume
    "bad precision on an existing run",
    "LC-Rec id null",
    "recommend ambiguous title",
    "codes that do not match the checkpoint",
    "tampered JSON sidecar",
    "resume with a changed model size",
]


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    return run_battery(SAMPLE, workdir=tmp_path_factory.mktemp("battery"), echo=False, jobs=2)


@pytest.mark.parametrize("name", SAMPLE)
def test_bad_input_stops_with_a_clear_message_and_writes_nothing(battery, name):
    result = next(r for r in battery["results"] if r["case"] == name)
    assert result["passed"], f"{name}: {result['problems']} (exit {result['exit_code']}: {result['message']})"
