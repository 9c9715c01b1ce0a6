"""PRORec: the AdaLN adapter, cross-modality alignment, the semantic-domination measure,
stage-1 artefacts, and the distillation term of stage 2."""

import json

import pytest
import pytorch_lightning as pl
import torch
from test_tiger import planted, small_config
from test_tokenizer_stage import TITLES, fixture_root, run_stage  # noqa: F401  (fixture)

from genrec.config import compose
from genrec.data.datamodule import SequentialDataModule
from genrec.errors import ArtefactError
from genrec.features.alignment import AlignedSASRec, info_nce
from genrec.features.domination import semantic_domination
from genrec.features.modality_adapter import AdaLNAdapter
from genrec.generators.prorec import PRORec, PRORecConfig
from genrec.generators.sasrec import SASRecConfig
from genrec.generators.tiger import TIGER
from genrec.tokenizers.item_codes import ItemCodes


def test_adaln_adapter_learns_a_planted_linear_map():
    torch.manual_seed(0)
    planted_map = torch.randn(16, 8)
    x = torch.randn(1200, 16)
    y = x @ planted_map
    adapter = AdaLNAdapter(16, 8)
    optimizer = torch.optim.Adam(adapter.parameters(), lr=1e-2)
    first = None
    for _ in range(300):
        batch = torch.randint(0, 1000, (256,))
        loss = info_nce(adapter(x[batch]), y[batch], temperature=0.1)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first
    with torch.no_grad():  # held-out pairs: each adapted x finds its own y among 200
        mapped = torch.nn.functional.normalize(adapter(x[1000:]), dim=-1)
        target = torch.nn.functional.normalize(y[1000:], dim=-1)
        top1 = (mapped @ target.T).argmax(1)
        cosine = (mapped * target).sum(1)
    assert (top1 == torch.arange(200)).float().mean() > 0.9 and cosine.mean() > 0.9


def test_alignment_loss_falls_and_aligned_pairs_score_above_random_pairs():
    pl.seed_everything(0)
    dataset, _ = planted(n_items=40, n_users=200)
    text = torch.randn(40, 12)
    datamodule = SequentialDataModule(dataset, max_history=8, train_form="windows", batch_size=32)
    model = AlignedSASRec(40, 8, SASRecConfig(hidden_size=16, dropout=0.0, loss="ce"), text, weight=1.0,
                          temperature=0.1)
    all_items = torch.arange(40)
    with torch.no_grad():
        before = model.alignment_loss(all_items).item()
    trainer = pl.Trainer(max_epochs=30, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=datamodule)
    model.eval()
    with torch.no_grad():
        after = model.alignment_loss(all_items).item()
        collaborative = torch.nn.functional.normalize(model.item_emb(all_items + 1), dim=-1)
        adapted = torch.nn.functional.normalize(model.adapter(text), dim=-1)
        similarity = collaborative @ adapted.T
    assert after < 0.5 * before
    aligned = similarity.diag().mean()
    random_pairs = similarity[~torch.eye(40, dtype=torch.bool)].mean()
    assert aligned > random_pairs + 0.3


def test_semantic_domination_measure_sees_which_side_dominates():
    generator = torch.Generator().manual_seed(0)
    text, collaborative = torch.randn(300, 32, generator=generator), torch.randn(300, 8, generator=generator)
    dominated = torch.cat([text * 10, collaborative], 1)
    measured = semantic_domination(text, collaborative, dominated, k=5, sample=300)
    assert measured["text_overlap"] > 0.8 and measured["collaborative_overlap"] < 0.2
    balanced = semantic_domination(text, collaborative, collaborative, k=5, sample=300)
    assert balanced["collaborative_overlap"] == 1.0
    codes = torch.stack([torch.arange(300) % 7, torch.arange(300)], 1)
    with_codes = semantic_domination(text, collaborative, collaborative, codes, k=5, sample=300)
    assert 0.0 <= with_codes["code_agreement_text"] <= 1.0


def prorec_and_tiger(distill_weight, distill_loss="mse", distill_from="decoder"):
    dataset, codes = planted()
    vectors = torch.randn(dataset.n_items, 6, generator=torch.Generator().manual_seed(1))
    values = {k: v for k, v in vars(small_config()).items() if k != "model"}
    cfg = PRORecConfig(**values, distill_weight=distill_weight, distill_loss=distill_loss, distill_from=distill_from)
    torch.manual_seed(0)
    prorec = PRORec(codes, cfg, vectors, ks=(1, 10))
    tiger = TIGER(codes, small_config(), ks=(1, 10))
    tiger.t5.load_state_dict(prorec.t5.state_dict())
    for model in (prorec, tiger):
        model.log = lambda *args, **kwargs: None  # no Trainer attached
    batch = {"user": torch.arange(4), "history": torch.tensor([[-1, 1, 6], [0, 5, 10], [-1, -1, 3], [2, 7, 12]]),
             "target": torch.tensor([11, 15, 8, 17])}
    return prorec, tiger, batch


def test_zero_distillation_weight_gives_tigers_loss_exactly():
    prorec, tiger, batch = prorec_and_tiger(0.0)
    prorec.eval(), tiger.eval()  # no dropout, so both see the same network
    assert torch.equal(prorec.training_step(batch, 0), tiger.training_step(batch, 0))


@pytest.mark.parametrize("loss,source", [("mse", "decoder"), ("infonce", "decoder"), ("mse", "encoder")])
def test_distillation_adds_a_term_that_trains_the_projection(loss, source):
    prorec, tiger, batch = prorec_and_tiger(0.5, loss, source)
    prorec.eval(), tiger.eval()
    total = prorec.training_step(batch, 0)
    assert total > tiger.training_step(batch, 0)
    total.backward()
    assert prorec.distill_head.weight.grad.abs().sum() > 0


def test_stage_one_artefacts_round_trip_with_fingerprints(fixture_root):  # noqa: F811
    from genrec.data import load_dataset
    from genrec.tokenizers.pipeline import load_tokenizer_vectors

    fast = ["tokenizer.fusion.max_epochs=2", "tokenizer.fusion.check_val_every_n_epoch=1",
            "tokenizer.fusion.sasrec.hidden_size=8", f"tokenizer.fusion_cache_dir={fixture_root / 'fusion'}"]
    small = ["tokenizer.levels=2", "tokenizer.codebook_size=4", "tokenizer.steps=50", "tokenizer.batch_size=16",
             "tokenizer.kmeans_init_items=16"]
    result = run_stage(fixture_root, "tokenizer=prorec", *small, *fast)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = fixture_root / "tok" / "prorec-beauty_lcrec"
    report = json.loads((folder / "report.json").read_text())
    assert report["vector_dim"] == 8 and report["fusion"]["weight"] == 0.1  # the SASRec embedding size
    assert {"text_overlap", "collaborative_overlap"} <= set(report["fusion"]["semantic_domination"])
    cfg = compose(["data=beauty_lcrec", f"data.root={fixture_root / 'data'}", f"tokenizers_dir={fixture_root / 'tok'}",
                   "tokenizer=prorec"])
    codes = ItemCodes.load(folder, load_dataset(cfg.data).fingerprint())
    vectors = load_tokenizer_vectors(cfg, codes)
    assert vectors.shape == (len(TITLES), 8) and torch.isfinite(vectors).all()
    other = ItemCodes(codes.codes.flip(0), codes.codebook_sizes, codes.scheme, codes.dataset, codes.dataset_fingerprint)
    with pytest.raises(ArtefactError, match="belongs to other codes"):
        load_tokenizer_vectors(cfg, other)
    again = run_stage(fixture_root, "tokenizer=prorec", "tokenizer.name=again", *small, *fast)
    assert again.returncode == 0 and json.loads((fixture_root / "tok" / "again" / "report.json").read_text())[
        "fusion"]["from_cache"]  # stage 1 is reused, not retrained


def test_prorec_learns_the_planted_pattern_with_distillation():
    from genrec.evaluation.evaluator import evaluate_model

    pl.seed_everything(0)
    dataset, codes = planted()
    dm = SequentialDataModule(dataset, max_history=5, train_form="prefixes", batch_size=64, eval_batch_size=64)
    vectors = torch.nn.functional.one_hot(torch.arange(24) // 6, 4).float() + 0.1 * torch.randn(24, 4)
    values = {k: v for k, v in vars(small_config(lr=5e-3)).items() if k != "model"}
    model = PRORec(codes, PRORecConfig(**values, distill_weight=0.2), vectors, ks=(1, 10))
    trainer = pl.Trainer(max_epochs=60, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    metrics, _ = evaluate_model(model, dm.test_dataloader(), (1, 10), progress=False)
    assert metrics["recall@1"] > 0.9

