"""SASRec learns, through the same harness the real runs use."""

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
from genrec.errors import ArtefactError
from genrec.evaluation.evaluator import evaluate_model
from genrec.features.collaborative import load_item_vectors
from genrec.generators.sasrec import SASRec, SASRecConfig


def planted_dataset(n_items=40, n_users=300, length=12, seed=0) -> RecDataset:
    """The next item is always (last item + 7) mod n: a pattern SASRec must recover."""
    rng = np.random.default_rng(seed)
    sequences = []
    for _ in range(n_users):
        start = rng.integers(n_items)
        sequences.append([(start + 7 * k) % n_items for k in range(length)])
    catalog = Catalog("planted", [str(i) for i in range(n_items)], {"title": [f"item {i}" for i in range(n_items)]})
    return RecDataset(catalog, Interactions([str(u) for u in range(n_users)], sequences))


@pytest.mark.parametrize("loss", ["ce", "bce"])
def test_sasrec_recovers_planted_pattern(loss):
    pl.seed_everything(0)
    dataset = planted_dataset(n_users=200)
    dm = SequentialDataModule(dataset, max_history=10, train_form="windows", batch_size=32)
    cfg = SASRecConfig(hidden_size=32, num_layers=1, dropout=0.1, loss=loss, lr=1e-2)
    # exclude_seen as in the benchmark protocol: BCE never sees history items as negatives
    model = SASRec(dataset.n_items, 10, cfg, ks=(1, 10), exclude_seen=True)
    before, _ = evaluate_model(model, dm.test_dataloader(), (1, 10), progress=False)
    losses = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = pl.Trainer(max_epochs=25, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, callbacks=[Record()])
    trainer.fit(model, datamodule=dm)
    after, _ = evaluate_model(model, dm.test_dataloader(), (1, 10), progress=False)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert before["recall@1"] < 0.2
    assert after["recall@1"] > 0.9


def test_exclude_seen_masks_history_items():
    dataset = planted_dataset(n_items=10, n_users=5, length=4)
    model = SASRec(10, 5, SASRecConfig(hidden_size=8, num_layers=1), ks=(1,))
    batch = {"history": torch.tensor([[0, 1]]), "seen": torch.tensor([[0, 1]]), "target": torch.tensor([2])}
    scores = model.masked_scores(batch)
    assert torch.isneginf(scores[0, :2]).all() and torch.isfinite(scores[0, 2:]).all()
    assert dataset.n_items == 10


@pytest.mark.slow
def test_cli_trains_evaluates_and_exports_embeddings(tmp_path):
    data_root = require_datasets("ml100k")
    common = [f"data.root={data_root}", f"results_dir={tmp_path / 'results'}",
              f"checkpoints_dir={tmp_path / 'ckpt'}", "run=cli_smoke"]
    train = subprocess.run([sys.executable, "train.py", "experiment=sasrec_ml100k", "trainer=smoke", *common],
                           cwd=REPO, capture_output=True, text=True)
    assert train.returncode == 0, train.stderr[-2000:]
    assert "recall@10" in train.stdout
    report = json.loads((tmp_path / "results" / "cli_smoke" / "metrics.json").read_text())
    for key in ("valid", "test", "config", "seed", "commit", "versions", "hardware", "wall_time_s"):
        assert key in report
    assert report["dataset"]["users"] == 943 and 0 <= report["test"]["ndcg@10"] <= 1
    assert "item_codes" not in report  # SASRec reads no item codes
    vectors, meta = load_item_vectors(tmp_path / "ckpt" / "cli_smoke", report["dataset"]["fingerprint"])
    assert vectors.shape == (1682, 64)
    with pytest.raises(ArtefactError, match="not on the one loaded"):
        load_item_vectors(tmp_path / "ckpt" / "cli_smoke", "another-dataset")

    evaluate = subprocess.run([sys.executable, "evaluate.py", "run=cli_smoke", f"checkpoints_dir={tmp_path / 'ckpt'}",
                               f"results_dir={tmp_path / 'results'}"], cwd=REPO, capture_output=True, text=True)
    assert evaluate.returncode == 0, evaluate.stderr[-2000:]
    again = json.loads((tmp_path / "results" / "cli_smoke" / "metrics.json").read_text())
    assert again["test"] == pytest.approx(report["test"])  # same weights, same numbers
    assert again["train"]["steps"] == 5
