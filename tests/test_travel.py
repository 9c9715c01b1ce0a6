"""A run folder cut into small parts (a GPU lease's file limits) joins back bit for bit,
and damaged parts never replace a file."""

import os

import pytest

from genrec.errors import ArtefactError
from genrec.training.travel import main, pack, unpack


def fake_run(folder):
    folder.mkdir()
    (folder / "config.yaml").write_text("run: x\n")
    (folder / "last.ckpt").write_bytes(os.urandom(int(3.5 * 2**20)))
    return folder


def test_packed_parts_are_small_and_join_back_exactly(tmp_path):
    run = fake_run(tmp_path / "run")
    written = pack(run, tmp_path / "out", part_mib=1)
    parts = [p for p in written if ".part" in p.name]
    assert len(parts) == 5 and max(p.stat().st_size for p in parts) <= 2**20  # 4 of last.ckpt, 1 of config
    unpack(tmp_path / "out", tmp_path / "back")
    for name in ("config.yaml", "last.ckpt"):
        assert (tmp_path / "back" / name).read_bytes() == (run / name).read_bytes()


def test_a_damaged_part_is_refused_and_replaces_nothing(tmp_path):
    run = fake_run(tmp_path / "run")
    pack(run, tmp_path / "out", part_mib=1)
    part = tmp_path / "out" / "last.ckpt.part02"
    data = part.read_bytes()
    part.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # flipped: overwriting with a fixed byte that was
    #                                                         already there (1 in 256 random parts) damages nothing
    (tmp_path / "back").mkdir()
    (tmp_path / "back" / "last.ckpt").write_bytes(b"the older checkpoint")
    with pytest.raises(ArtefactError, match="do not join"):
        unpack(tmp_path / "out", tmp_path / "back")
    assert (tmp_path / "back" / "last.ckpt").read_bytes() == b"the older checkpoint"
    assert sorted(p.name for p in (tmp_path / "back").iterdir()) == ["last.ckpt"]  # no half-joined files left
    assert main(["unpack", str(tmp_path / "out"), str(tmp_path / "back")]) == 2
