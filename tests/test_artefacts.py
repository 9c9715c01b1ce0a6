"""Atomic artefact writes: the file appears whole or not at all, with the mode a plainly created
file would have (the process umask), not the owner-only mode of a temporary file."""

import os
import stat

import pytest
import torch

from genrec.artefacts import read_json, write_json_atomic, write_tensors_atomic


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it."""
    saved = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_artefacts_get_the_umask_mode(tmp_path, umask, mask):
    umask(mask)
    write_json_atomic(tmp_path / "report.json", {"a": 1})
    write_tensors_atomic(tmp_path / "codes.safetensors", {"codes": torch.arange(4)})
    for name in ("report.json", "codes.safetensors"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name
    assert read_json(tmp_path / "report.json", "report") == {"a": 1}


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    write_json_atomic(target, {"old": True})
    with pytest.raises(TypeError):  # JSON keys cannot be complex numbers: the write fails midway
        write_json_atomic(target, {1j: "unwritable"})
    assert read_json(target, "report") == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
