"""bench/reproduce.py's rows: ``dataset:tokenizer[@encoder][:seed]`` composes the train.py config
each row stands for, with the tokenizer and run names other benches fit codes under, and
malformed rows are refused by name before anything runs."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import reproduce  # noqa: E402

from genrec.config import compose  # noqa: E402


def composed(row: str):
    return compose(reproduce.arguments(row))


def test_a_plain_row_is_the_experiment_with_its_tokenizer_and_default_names():
    cfg = composed("toys:rqvae_sinkhorn")
    assert (cfg.data.dataset, cfg.tokenizer.scheme, cfg.tokenizer.collisions) == ("toys", "rqvae", "sinkhorn")
    assert (cfg.tokenizer.name, cfg.run, cfg.seed) == ("rqvae_sinkhorn-toys", "tiger-rqvae_sinkhorn-toys", 42)
    assert cfg.tokenizer.features.model == compose(["experiment=tiger_toys"]).tokenizer.features.model


def test_an_encoder_row_quantises_that_encoders_vectors_under_the_text_vectors_bench_name():
    cfg = composed("beauty:rqvae@gemma3-270m")
    assert (cfg.tokenizer.features.model, cfg.tokenizer.features.pooling) == ("offline:gemma3-270m", "mean")
    # bench/text_vectors.py fits <tokenizer>-<encoder>-<dataset>: the same folder, so fitted codes are reused
    assert cfg.tokenizer.name == "rqvae-gemma3-270m-beauty"
    assert cfg.run == "tiger-rqvae-gemma3-270m-beauty" == reproduce.run_name("beauty:rqvae@gemma3-270m")
    # everything but the text vectors is the MiniLM row's
    plain = composed("beauty:rqvae")
    assert cfg.generator == plain.generator and cfg.trainer == plain.trainer
    assert cfg.tokenizer.levels == plain.tokenizer.levels and cfg.tokenizer.lr == plain.tokenizer.lr
    assert plain.tokenizer.features.model != cfg.tokenizer.features.model


def test_seed_and_keyword_rows_get_their_own_runs():
    cfg = composed("beauty_keywords:rqvae@smollm2-135m:3")
    assert (cfg.data.dataset, cfg.seed, cfg.tokenizer.features.model) == ("beauty_keywords", 3, "offline:smollm2-135m")
    assert cfg.tokenizer.name == "rqvae-smollm2-135m-beauty_keywords"
    assert cfg.run == "tiger-rqvae-smollm2-135m-beauty_keywords-seed3"
    assert composed("beauty:random:1").run == "tiger-random-beauty-seed1"
    # MiniLM is the configs' own encoder: naming it changes nothing
    assert reproduce.arguments("beauty:rqvae@minilm") == reproduce.arguments("beauty:rqvae")


@pytest.mark.parametrize("row, named", [
    ("beauty", "dataset:tokenizer[@encoder][:seed]"),
    ("beauty::1", "dataset:tokenizer[@encoder][:seed]"),
    ("beauty:rqvae@bert", "unknown encoder 'bert'"),
    ("beauty:rqvae:one", "seed 'one' is not a whole number"),
])
def test_a_malformed_row_is_refused_by_name(row, named):
    with pytest.raises(SystemExit, match=named.replace("[", r"\[").replace("]", r"\]")):
        reproduce.parse_row(row)


def test_the_summary_tables_the_encoder_rows_apart_without_the_papers_figure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    test = {"recall@5": 0.03, "recall@10": 0.05, "ndcg@5": 0.02, "ndcg@10": 0.025}
    for row in ("beauty:rqvae", "beauty:rqvae@gemma3-270m"):
        report = Path("results") / reproduce.run_name(row) / "metrics.json"
        report.parent.mkdir(parents=True)
        report.write_text(json.dumps({"test": test, "valid": {"ndcg@10": 0.03},
                                      "train": {"steps": 100, "stop_reason": "early_stopping"}}))
    summary = reproduce.summarise(reproduce.TEXT_VECTORS)
    by_row = {e["row"]: e for e in summary["rows"]}
    assert by_row["beauty:rqvae"]["paper"] == reproduce.PAPER["beauty"]
    assert by_row["beauty:rqvae@gemma3-270m"]["paper"] is None  # the paper used neither encoder's vectors
    assert by_row["beauty:rqvae@gemma3-270m"]["encoder"] == "gemma3-270m"
    text = reproduce.table(summary, reproduce.TEXT_VECTORS + ["beauty:rqvae@smollm2-135m"], "vectors")
    assert "| tiger-rqvae-gemma3-270m-beauty | 0.0300 | 0.0500 | 0.0200 | 0.0250 |  | 100 |" in text
    assert "| tiger-rqvae-smollm2-135m-beauty | not run |" in text


def test_the_command_line_splits_overrides_from_rows_and_applies_threads():
    import argparse

    import rows
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", nargs="+", default=[])
    rows.add_row_options(parser)
    before = torch.get_num_threads()
    try:
        args, overrides = rows.parse_command_line(
            parser, ["--rows", "beauty:rqvae", "toys:rqvae", "generator.lr=0.01", "--threads", "1", "seed=3"])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert args.rows == ["beauty:rqvae", "toys:rqvae"]
    assert overrides == ["generator.lr=0.01", "seed=3"]
    assert (args.jobs, args.skip_existing, args.summary_only) == (1, False, False)
