"""An offline kit (bench/offline_kit.py) carries a dataset, a fitted tokenizer and a run to
resume in parts under the size limit, puts them back in place bit for bit on the other side,
and brings results and the run back the same way."""

import os
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import offline_kit  # noqa: E402


def fake_wheels(cache: Path) -> None:
    """A cached wheel name for every dependency installed here, so pack downloads nothing (one not
    installed, e.g. loguru under an older vector-quantize-pytorch, pack leaves out)."""
    cache.mkdir()
    for name in offline_kit.WHEELS:
        if offline_kit.not_installed(name):
            continue
        stem = name.replace("-", "_")
        (cache / f"{stem}-{metadata.version(name)}-py3-none-any.whl").write_bytes(b"wheel")


def fake_repo(root: Path) -> Path:
    (root / "tokenizers" / "rqvae-toy" / "backbone").mkdir(parents=True)
    (root / "tokenizers" / "rqvae-toy" / "item_codes.json").write_text('{"levels": 4}')
    (root / "tokenizers" / "rqvae-toy" / "backbone" / "weights.bin").write_bytes(os.urandom(300_000))
    run = root / "checkpoints" / "tiger-toy"
    (run / "logs").mkdir(parents=True)
    (run / "config.yaml").write_text("run: tiger-toy\n")
    (run / "last.ckpt").write_bytes(os.urandom(int(1.5 * 2**20)))
    (run / "logs" / "metrics.csv").write_text("epoch,step\n0,1\n")
    (root / "results" / "tiger-toy").mkdir(parents=True)
    (root / "results" / "tiger-toy" / "metrics.json").write_text('{"test": {}}')
    return root


def test_a_kit_travels_in_small_parts_and_results_come_back(tmp_path):
    here = fake_repo(tmp_path / "here")
    data = tmp_path / "data"
    (data / "movielens_100k").mkdir(parents=True)
    (data / "movielens_100k" / "u.data").write_bytes(os.urandom(200_000))
    fake_wheels(tmp_path / "wheels")
    kit = tmp_path / "kit"
    assert offline_kit.main(["pack", "--datasets", "ml100k", "--tokenizers", "rqvae-toy", "--runs", "tiger-toy",
                             "--data-root", str(data), "--wheel-cache", str(tmp_path / "wheels"), "--out", str(kit),
                             "--limit-mib", "1", "--piece-mib", "0.5", "--repo", str(here)]) == 0
    parts = sorted(kit.glob("part*"))
    assert len(parts) >= 2
    for part in parts:
        assert sum(f.stat().st_size for f in part.rglob("*") if f.is_file()) <= 2**20 + 4096  # + kit.json

    there = tmp_path / "there"
    there.mkdir()
    into = ["--into", str(tmp_path / "unpacked"), "--repo", str(there)]
    assert offline_kit.main(["setup", *map(str, parts[:-1]), *into]) == 0  # one upload at a time
    assert not (there / "checkpoints" / "tiger-toy" / "last.ckpt").exists()  # its last pieces are still to come
    assert offline_kit.main(["setup", str(parts[-1]), *into]) == 0
    for path in ("tokenizers/rqvae-toy/backbone/weights.bin", "checkpoints/tiger-toy/last.ckpt"):
        assert (there / path).read_bytes() == (here / path).read_bytes()
    assert (tmp_path / "unpacked" / "data" / "movielens_100k" / "u.data").read_bytes() == \
        (data / "movielens_100k" / "u.data").read_bytes()
    env = (tmp_path / "unpacked" / "env.sh").read_text()
    assert f"GENREC_DATA_DIR={tmp_path / 'unpacked' / 'data'}" in env and "GENREC_GGUF_DIR" not in env

    (there / "results" / "tiger-toy").mkdir(parents=True)
    (there / "results" / "tiger-toy" / "metrics.json").write_text('{"test": {"recall@10": 0.07}}')
    (there / "checkpoints" / "tiger-toy" / "logs").mkdir()
    (there / "checkpoints" / "tiger-toy" / "logs" / "metrics.csv").write_text("epoch,step\n0,1\n9,900\n")
    out = tmp_path / "out"
    assert offline_kit.main(["send-back", str(out), "--runs", "tiger-toy", "--repo", str(there)]) == 0
    assert sorted(p.name for p in (out / "run-tiger-toy").iterdir()) == [
        "config.yaml.part00", "last.ckpt.part00", "manifest.json"]
    assert offline_kit.main(["receive", str(out), "--repo", str(here)]) == 0
    assert "0.07" in (here / "results" / "tiger-toy" / "metrics.json").read_text()
    assert "9,900" in (here / "checkpoints" / "tiger-toy" / "logs" / "metrics.csv").read_text()
    assert (here / "checkpoints" / "tiger-toy" / "last.ckpt").read_bytes() == \
        (there / "checkpoints" / "tiger-toy" / "last.ckpt").read_bytes()


def test_a_codes_only_kit_leaves_the_tokenizer_vectors_behind(tmp_path):
    here = fake_repo(tmp_path / "here")
    (here / "tokenizers" / "rqvae-toy" / offline_kit.VECTORS_FILE).write_bytes(os.urandom(100_000))
    fake_wheels(tmp_path / "wheels")
    packed = {}
    for flag in ([], ["--codes-only"]):
        kit = tmp_path / f"kit{len(flag)}"
        assert offline_kit.main(["pack", "--tokenizers", "rqvae-toy", "--wheel-cache", str(tmp_path / "wheels"),
                                 "--out", str(kit), "--repo", str(here), *flag]) == 0
        packed[bool(flag)] = {p.relative_to(kit / "part1").as_posix() for p in (kit / "part1").rglob("*")}
    assert "tokenizers/rqvae-toy/vectors.safetensors" in packed[False]
    assert packed[False] - packed[True] == {"tokenizers/rqvae-toy/vectors.safetensors"}  # all else travels


def test_a_data_root_assembled_from_symlinked_folders_travels_whole(tmp_path):
    shared = tmp_path / "shared" / "movielens_100k"  # a read-only copy elsewhere, linked in folder by folder
    (shared / "raw").mkdir(parents=True)
    (shared / "raw" / "u.data").write_bytes(b"1 2 3 4\n")
    root = tmp_path / "root" / "movielens_100k"
    root.mkdir(parents=True)
    (root / "raw").symlink_to(shared / "raw", target_is_directory=True)
    (root / "extra").mkdir()
    (root / "extra" / "keywords.txt").write_text("added beside the links\n")
    fake_wheels(tmp_path / "wheels")
    kit = tmp_path / "kit"
    assert offline_kit.main(["pack", "--datasets", "ml100k", "--data-root", str(tmp_path / "root"),
                             "--wheel-cache", str(tmp_path / "wheels"), "--out", str(kit),
                             "--repo", str(fake_repo(tmp_path / "here"))]) == 0
    packed = {p.relative_to(kit / "part1" / "data").as_posix() for p in (kit / "part1" / "data").rglob("*")
              if p.is_file()}
    assert packed == {"movielens_100k/raw/u.data", "movielens_100k/extra/keywords.txt"}


def test_an_unfitted_tokenizer_or_unknown_dataset_is_refused_before_anything_is_written(tmp_path, capsys):
    here = fake_repo(tmp_path / "here")
    fake_wheels(tmp_path / "wheels")
    common = ["--wheel-cache", str(tmp_path / "wheels"), "--out", str(tmp_path / "kit"), "--repo", str(here),
              "--data-root", str(tmp_path)]
    assert offline_kit.main(["pack", "--tokenizers", "rqkmeans-toy", *common]) == 2
    assert "rqkmeans-toy: not fitted" in capsys.readouterr().err
    assert offline_kit.main(["pack", "--datasets", "nosuch", *common]) == 2
    assert "configs/data/nosuch.yaml" in capsys.readouterr().err
    assert not (tmp_path / "kit").exists()


@pytest.mark.parametrize("command", ["setup", "receive"])
def test_a_folder_that_is_not_a_kit_is_named_in_the_error(tmp_path, capsys, command):
    assert offline_kit.main([command, str(tmp_path), "--repo", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err
