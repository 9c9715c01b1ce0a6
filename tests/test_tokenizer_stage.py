"""`python train.py stage=tokenizer ...` end to end on a small catalogue with real text vectors."""

import json
import os
import stat
import subprocess
import sys

import pytest
from conftest import REPO

from genrec.config import compose
from genrec.data import load_dataset
from genrec.tokenizers.item_codes import ItemCodes

TITLES = ["red lipstick", "pink lipstick", "nude lipstick", "matte lipstick", "hair shampoo", "dry shampoo",
          "curl shampoo", "kids shampoo", "nail polish red", "nail polish clear", "nail polish gold",
          "nail file", "face cream", "night cream", "eye cream", "hand cream"]


@pytest.fixture
def fixture_root(tmp_path):
    folder = tmp_path / "data" / "amazon_beauty_2014" / "raw" / "lcrec_letter"
    folder.mkdir(parents=True)
    n = len(TITLES)
    (folder / "Beauty.item.json").write_text(json.dumps({str(i): {"title": t} for i, t in enumerate(TITLES)}))
    (folder / "Beauty.inter.json").write_text(json.dumps({str(u): [(u + k) % n for k in range(5)] for u in range(20)}))
    return tmp_path


def run_stage(root, *extra):
    return subprocess.run(
        [sys.executable, "train.py", "stage=tokenizer", "data=beauty_lcrec", f"data.root={root / 'data'}",
         f"tokenizers_dir={root / 'tok'}", f"results_dir={root / 'results'}",
         f"tokenizer.features.cache_dir={root / 'cache'}", f"tokenizer.fit_cache_dir={root / 'fits'}", *extra],
        cwd=REPO, capture_output=True, text=True,
    )


def test_fit_save_report_and_reload(fixture_root):
    result = run_stage(fixture_root, "tokenizer=rqkmeans", "tokenizer.levels=2", "tokenizer.codebook_size=4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rqkmeans-beauty_lcrec" in result.stdout and "collisions" in result.stdout
    folder = fixture_root / "tok" / "rqkmeans-beauty_lcrec"
    report = json.loads((folder / "report.json").read_text())
    for key in ("levels", "collision_rate_before", "collision_rate_after", "fit_wall_time_s", "n_items"):
        assert key in report
    assert report["collision_rate_after"] == 0.0 and report["vector_dim"] == 384  # MiniLM
    assert (folder / "report.png").stat().st_size > 1000
    assert (fixture_root / "results" / "tokenizers" / "rqkmeans-beauty_lcrec.json").is_file()
    umask = os.umask(0o022)  # the fit inherited this process's umask
    os.umask(umask)
    for path in [*folder.iterdir(), fixture_root / "results" / "tokenizers" / "rqkmeans-beauty_lcrec.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path  # not mkstemp's or safetensors' 0o600
    cfg = compose(["data=beauty_lcrec", f"data.root={fixture_root / 'data'}"])
    codes = ItemCodes.load(folder, dataset_fingerprint=load_dataset(cfg.data).fingerprint())
    assert codes.n_items == len(TITLES) and codes.n_levels == 3  # 2 levels + TIGER's extra level
    # lipsticks share a first code more often than lipsticks and shampoos do
    first = codes.codes[:, 0].tolist()
    assert first[0] == first[1] == first[2] and first[0] != first[4]


def test_init_py_in_artefact_folder_is_caught(fixture_root):
    (fixture_root / "tok").mkdir()
    (fixture_root / "tok" / "__init__.py").write_text("")
    result = run_stage(fixture_root, "tokenizer=random")
    assert result.returncode == 2 and "shadows Hugging Face" in result.stderr
    assert not (fixture_root / "tok" / "random-beauty_lcrec").exists()


def test_collaborative_vectors_come_from_a_sasrec_run_of_the_same_dataset(fixture_root):
    import torch

    from genrec.errors import ArtefactError
    from genrec.features.collaborative import save_item_vectors
    from genrec.tokenizers.pipeline import item_vectors

    cfg = compose(["data=beauty_lcrec", f"data.root={fixture_root / 'data'}", f"checkpoints_dir={fixture_root / 'ckpt'}",
                   "tokenizer=rqkmeans", "tokenizer.vectors=collaborative", "tokenizer.collaborative_run=sasrec_run"])
    dataset = load_dataset(cfg.data)
    vectors = torch.randn(dataset.n_items, 8)
    save_item_vectors(fixture_root / "ckpt" / "sasrec_run", vectors,
                      {"dataset": dataset.name, "dataset_fingerprint": dataset.fingerprint()})
    assert torch.equal(item_vectors(cfg, dataset)[0], vectors)
    save_item_vectors(fixture_root / "ckpt" / "sasrec_run", vectors, {"dataset": "other", "dataset_fingerprint": "x"})
    with pytest.raises(ArtefactError, match="train SASRec on this dataset"):
        item_vectors(cfg, dataset)


def test_codes_from_before_a_new_key_are_reused_and_other_settings_refused(fixture_root):
    """Codes whose saved config lacks a key added later (it reads as its default) are reused;
    codes fitted with another value of a key stop the run with the key named."""
    from genrec.errors import ConfigError
    from genrec.tokenizers.pipeline import ensure_item_codes, run_tokenizer_stage

    cfg = compose(["data=beauty_lcrec", f"data.root={fixture_root / 'data'}", f"tokenizers_dir={fixture_root / 'tok'}",
                   f"results_dir={fixture_root / 'results'}", "tokenizer=rqkmeans", "tokenizer.levels=2",
                   "tokenizer.codebook_size=4", "tokenizer.vectors=none"])
    run_tokenizer_stage(cfg)
    dataset = load_dataset(cfg.data)
    sidecar = fixture_root / "tok" / "rqkmeans-beauty_lcrec" / "item_codes.json"
    meta = json.loads(sidecar.read_text())
    fitted = ensure_item_codes(cfg, dataset).fingerprint
    del meta["config"]["kmeans_init"]  # as written before kmeans_init existed
    sidecar.write_text(json.dumps(meta))
    assert ensure_item_codes(cfg, dataset).fingerprint == fitted
    meta["config"]["kmeans_init"] = "random"
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="tokenizer.kmeans_init: 'random' there, 'kmeans\\+\\+' now"):
        ensure_item_codes(cfg, dataset)
