"""bench/cold_start.py's rows compose before anything trains: the Beauty rows run only on a lent
GPU, so a bad override there would cost a lease. Each row holds out the same items, under its own
run and tokenizer names, with the new-item rule it claims. What the table reads back from earlier
runs (TIGER's re-scorings, the share of codes in a fitted prefix) is read only for the training and
the codes it came from."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import cold_start  # noqa: E402

from genrec.config import compose  # noqa: E402


@pytest.mark.parametrize("dataset", ["ml100k", "beauty"])
def test_every_cold_start_row_composes_on_the_same_held_out_split(dataset):
    rows = cold_start.runs(dataset)
    configs = {run: compose([*overrides, f"run={run}"]) for _, run, overrides, _ in rows}
    assert len(configs) == len(rows) == 5
    assert all(cfg.run == run and cfg.data.dataset == f"{dataset}_cold" for run, cfg in configs.items())
    assert {(cfg.data.cold_start_share, cfg.data.cold_start_seed) for cfg in configs.values()} == {(0.05, 0)}
    assert len({cfg.tokenizer.name for cfg in configs.values()}) == 5  # no row reuses another's codes
    llm = {run: cfg for run, cfg in configs.items() if cfg.tokenizer.scheme in ("store", "lamia")}
    assert sorted(cfg.tokenizer.scheme for cfg in llm.values()) == ["lamia", "lamia", "store", "store"]
    assert all(cfg.tokenizer.new_item_codes == ("seen_prefix" if "_seen" in run else "open") for run, cfg in llm.items())


def test_a_rescoring_is_kept_with_the_results_and_read_back_without_the_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(cold_start, "rescore", lambda run, overrides: calls.append(overrides) or {"test": {"x": 1}})
    report = {"commit": "abc", "train": {"wall_time_s": 12.0}}
    rescorings = [("2 levels", ["evaluation.cold_start_prefix_levels=2"]), ("direct", ["evaluation.cold_start_rule=direct"])]
    (tmp_path / "checkpoints" / "run").mkdir(parents=True)
    (tmp_path / "checkpoints" / "run" / "best.ckpt").write_bytes(b"")
    assert cold_start.rescorings_of("run", report, rescorings) == [{"test": {"x": 1}}] * 2 and len(calls) == 2
    (tmp_path / "checkpoints" / "run" / "best.ckpt").unlink()  # a fresh clone: the checkpoint stayed behind
    assert cold_start.rescorings_of("run", report, rescorings) == [{"test": {"x": 1}}] * 2 and len(calls) == 2
    retrained = {"commit": "def", "train": {"wall_time_s": 13.0}}  # the kept figures belong to another training
    assert cold_start.rescorings_of("run", retrained, rescorings) == [None, None]
    assert "left out (no checkpoints/run/best.ckpt here" in capsys.readouterr().out


def test_the_fitted_prefix_share_is_read_only_for_the_codes_the_run_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "results" / "tokenizers" / "store-beauty_cold.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"codes_fingerprint": "aaaa", "cold_start": {"sharing_a_prefix_with_a_fitted_item": 0.4}}))
    run = {"config": {"tokenizer": {"name": "store-beauty_cold"}}}
    assert cold_start.in_a_fitted_prefix({**run, "item_codes": {"fingerprint": "aaaa"}}) == 0.4
    assert cold_start.in_a_fitted_prefix({**run, "item_codes": {"fingerprint": "bbbb"}}) is None  # refit since
    assert cold_start.in_a_fitted_prefix({"test": {}}) is None  # a re-scoring
