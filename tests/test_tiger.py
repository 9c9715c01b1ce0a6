"""TIGER: token layout, learning a planted pattern through constrained decoding, code refusal."""

import json
import subprocess
import sys

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import REPO, require_datasets

from genrec.data.datamodule import SequentialDataModule
from genrec.data.dataset import Catalog, Interactions, RecDataset
from genrec.errors import ArtefactError, DataError
from genrec.evaluation.evaluator import evaluate_model
from genrec.generators.code_vocabulary import PAD, CodeVocabulary
from genrec.generators.tiger import TIGER, TIGERConfig, inverse_sqrt
from genrec.recommend import Recommender
from genrec.tokenizers.item_codes import ItemCodes


def planted(n_items=24, n_users=160, length=8, seed=0):
    rng = np.random.default_rng(seed)
    sequences = [[(int(s) + 5 * k) % n_items for k in range(length)] for s in rng.integers(n_items, size=n_users)]
    catalog = Catalog("planted", [str(i) for i in range(n_items)])
    dataset = RecDataset(catalog, Interactions([str(u) for u in range(n_users)], sequences))
    codes = torch.stack([torch.arange(n_items) // 6, torch.arange(n_items) % 6], 1)
    return dataset, ItemCodes(codes, [4, 6], "manual", "planted", dataset.fingerprint())


def small_config(**overrides):
    values = dict(d_model=32, d_kv=16, num_heads=2, d_ff=64, num_layers=2, num_decoder_layers=2, dropout=0.0,
                  user_buckets=8, lr=3e-3, warmup_steps=20, beam_size=10)
    values.update(overrides)
    return TIGERConfig(**values)


def test_history_tokens_layout():
    _, codes = planted()
    vocab = CodeVocabulary(codes, user_buckets=8)
    history = torch.tensor([[-1, 3, 7], [1, 2, 3]])
    ids, mask = vocab.history_tokens(torch.tensor([0, 1]), history)
    user0 = int(vocab.user_tokens(torch.tensor([0])))
    # row 0: two pad tokens, the user token, then items 3 and 7 as (level-1, level-2) tokens
    assert ids[0].tolist() == [PAD, PAD, user0, 2 + 0, 6 + 3, 2 + 1, 6 + 1]
    assert mask[0].tolist() == [0, 0, 1, 1, 1, 1, 1] and mask[1].all()
    assert vocab.size == 2 + 4 + 6 + 8


def test_inverse_sqrt_schedule():
    f = inverse_sqrt(100)
    assert f(0) == 1.0 and f(99) == 1.0 and f(399) == pytest.approx(0.5)


@pytest.fixture(scope="module")
def trained():
    """TIGER fitted on the planted catalogue (the next item is always item + 5)."""
    pl.seed_everything(0)
    dataset, codes = planted()
    dm = SequentialDataModule(dataset, max_history=5, train_form="prefixes", batch_size=64, eval_batch_size=64)
    model = TIGER(codes, small_config(lr=5e-3), ks=(1, 10))
    trainer = pl.Trainer(max_epochs=60, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    return model.eval(), dataset, dm


def test_tiger_learns_a_planted_pattern_and_ranks_only_real_items(trained):
    model, _, dm = trained
    metrics, _ = evaluate_model(model, dm.test_dataloader(), (1, 10), progress=False)
    assert metrics["recall@1"] > 0.9
    items, scores = model.recommend(torch.tensor([0]), torch.tensor([[1, 6]]), top_k=10)
    assert items[0, 0] == 11 and len(set(items[0].tolist())) == 10 and items.max() < 24


def test_recommend_by_item_ids_and_titles(trained):
    model, dataset, _ = trained
    recommender = Recommender(model, titled(dataset), max_history=5)
    by_id = recommender.recommend(["1", "6"], top_k=3)
    by_title = recommender.recommend(["Item one", "Item six"], top_k=3)
    assert [r.item_id for r in by_id] == [r.item_id for r in by_title]
    assert by_id[0].item_id == "11" and by_id[0].title == "Item eleven" and by_id[0].rank == 1
    assert by_id[0].score >= by_id[1].score >= by_id[2].score


def test_recommend_leaves_history_out_unless_asked(trained):
    model, dataset, _ = trained
    recommender = Recommender(model, titled(dataset), max_history=5)
    history = ["1", "6", "11", "16"]  # the planted next item is 21; 11 and 16 are likely runners-up
    kept = recommender.recommend(history, top_k=20)
    assert not {r.item_id for r in kept} & set(history) and len(kept) == 20
    everything = recommender.recommend(history, top_k=24, exclude_history=False)
    assert {r.item_id for r in everything} == {str(i) for i in range(24)}


def test_recommend_names_unknown_and_ambiguous_items(trained):
    model, dataset, _ = trained
    recommender = Recommender(model, titled(dataset, duplicate="Item two"), max_history=5)
    with pytest.raises(DataError, match=r"'no such item'.*'999'"):
        recommender.recommend(["1", "no such item", "999"])
    with pytest.raises(DataError, match=r"several items.*'Item two'"):
        recommender.recommend(["Item two"])
    with pytest.raises(DataError, match="user 'nobody'"):
        recommender.recommend(["1"], user="nobody")


def titled(dataset, duplicate: str | None = None):
    """The planted dataset with English titles (``duplicate`` also names item 3)."""
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]
    titles = [f"Item {words[i]}" if i < len(words) else f"Item {i}" for i in range(dataset.n_items)]
    if duplicate:
        titles[3] = duplicate
    catalog = Catalog(dataset.catalog.dataset, dataset.catalog.external_ids, {"title": titles})
    return RecDataset(catalog, dataset.interactions)


def test_checkpoint_of_other_codes_is_refused():
    dataset, codes = planted()
    model = TIGER(codes, small_config(), ks=(1, 10))
    with pytest.raises(ArtefactError, match="trained on item codes"):
        model.check_checkpoint({"item_codes_fingerprint": "something-else"}, "run/best.ckpt")
    model.check_checkpoint({"item_codes_fingerprint": codes.fingerprint}, "run/best.ckpt")


def run_side_by_side(*commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Run the commands at once from the repository root; their completed processes, in order."""
    processes = [subprocess.Popen(c, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for c in commands]
    finished = []
    for command, process in zip(commands, processes):
        stdout, stderr = process.communicate()
        finished.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return finished


@pytest.mark.slow
def test_cli_trains_tiger_and_recommends_from_the_checkpoint(tmp_path):
    """The default experiment's pipeline at smoke size: fit codes, train, report, recommend."""
    data_root = require_datasets("ml100k")
    common = [f"data.root={data_root}", f"results_dir={tmp_path / 'results'}", f"checkpoints_dir={tmp_path / 'ckpt'}",
              f"tokenizers_dir={tmp_path / 'tokenizers'}"]
    small = ["tokenizer=random", "trainer=smoke", "trainer.max_time_minutes=30", "trainer.val_users=64",
             "evaluation.valid_sample_in_report=true",
             "generator.num_layers=1", "generator.num_decoder_layers=1", "generator.d_ff=64", "generator.d_model=32",
             "generator.d_kv=8", "generator.num_heads=2"]
    train = subprocess.run([sys.executable, "train.py", *small, *common], cwd=REPO, capture_output=True, text=True)
    assert train.returncode == 0, train.stderr[-2000:]
    report = json.loads((tmp_path / "results" / "tiger-random-ml100k" / "metrics.json").read_text())
    assert report["config"]["generator"]["model"] == "tiger" and report["train"]["steps"] == 5
    assert report["train"]["samples_per_s"] > 0 and report["eval"]["users_per_s"] > 0
    assert (tmp_path / "tokenizers" / "random-ml100k" / "codes.safetensors").is_file()
    fitted = json.loads((tmp_path / "tokenizers" / "random-ml100k" / "item_codes.json").read_text())
    assert report["item_codes"]["name"] == "random-ml100k" and report["item_codes"]["scheme"] == "random"
    assert report["item_codes"]["fingerprint"] == fitted["fingerprint"]  # which codes the run read

    # continue the run: steps go on from last.ckpt, the first part's learning curve survives
    run = tmp_path / "ckpt" / "tiger-random-ml100k"
    more = subprocess.run([sys.executable, "train.py", *small, *common, "trainer.resume=true", "trainer.max_steps=8"],
                          cwd=REPO, capture_output=True, text=True)
    assert more.returncode == 0, more.stderr[-2000:]
    resumed = json.loads((tmp_path / "results" / "tiger-random-ml100k" / "metrics.json").read_text())["train"]
    assert resumed["steps"] == 8 and resumed["resumed_from"].endswith("last.ckpt")
    assert resumed["train_time_total_s"] >= report["train"]["train_time_total_s"] > 0
    assert (run / "logs" / "metrics.csv").is_file() and (run / "logs" / "resumed-1" / "metrics.csv").is_file()
    published = json.loads((tmp_path / "results" / "tiger-random-ml100k" / "learning_curve.json").read_text())
    assert {r["step"] for r in published["train"]} >= {0, 4, 7}  # both parts' losses, kept with the results
    recommend = [sys.executable, "evaluate.py", "recommend", f"checkpoint={run}", f"data.root={data_root}"]
    (tmp_path / "history.txt").write_text("Toy Story (1995)\n50\n")
    ok, bad, missing = run_side_by_side(  # three processes at once: imports dominate each
        [*recommend, "--history-file", str(tmp_path / "history.txt"), "--item", "Usual Suspects, The (1995)", "top_k=5"],
        [*recommend, "history=[1,not-an-item]"],
        [*recommend[:3], f"checkpoint={tmp_path / 'nowhere'}", "history=[1]"])
    assert ok.returncode == 0, ok.stderr[-2000:]
    rows = [line for line in ok.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 5 and all(line.split("|")[2].strip() not in ("1", "50", "12") for line in rows)
    assert bad.returncode == 2 and "'not-an-item'" in bad.stderr
    assert missing.returncode == 2 and "config.yaml" in missing.stderr
