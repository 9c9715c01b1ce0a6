"""TIGER: token layout, learning a planted pattern through constrained decoding, code refusal."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from genrec.data.datamodule import SequentialDataModule
from genrec.data.dataset import Catalog, Interactions, RecDataset
from genrec.errors import ArtefactError
from genrec.evaluation.evaluator import evaluate_model
from genrec.generators.code_vocabulary import PAD, CodeVocabulary
from genrec.generators.tiger import TIGER, TIGERConfig, inverse_sqrt
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


def test_tiger_learns_a_planted_pattern_and_ranks_only_real_items():
    pl.seed_everything(0)
    dataset, codes = planted()
    dm = SequentialDataModule(dataset, max_history=5, train_form="prefixes", batch_size=64, eval_batch_size=64)
    model = TIGER(codes, small_config(lr=5e-3), ks=(1, 10))
    trainer = pl.Trainer(max_epochs=60, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    metrics, _ = evaluate_model(model, dm.test_dataloader(), (1, 10), progress=False)
    assert metrics["recall@1"] > 0.9
    items, scores = model.recommend(torch.tensor([0]), torch.tensor([[1, 6]]), top_k=10)
    assert items[0, 0] == 11 and len(set(items[0].tolist())) == 10 and items.max() < 24


def test_checkpoint_of_other_codes_is_refused():
    dataset, codes = planted()
    model = TIGER(codes, small_config(), ks=(1, 10))
    with pytest.raises(ArtefactError, match="trained on item codes"):
        model.check_checkpoint({"item_codes_fingerprint": "something-else"}, "run/best.ckpt")
    model.check_checkpoint({"item_codes_fingerprint": codes.fingerprint}, "run/best.ckpt")
