"""LAMIA's item palette: parallel k-means recovers planted aspects; palette tuning on a tiny
backbone learns (both losses fall, each (item, aspect) finds itself in a token-dropped view);
the ``lamia`` scheme writes unique codes and a backbone that carries the aspect tokens."""

import json

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from test_tokenizer_stage import fixture_root  # noqa: F401  (fixture)

from genrec.config import compose
from genrec.errors import ConfigError
from genrec.llm.backbone import BackboneConfig, load_backbone
from genrec.llm.item_palette import (
    PaletteConfig,
    PaletteTuner,
    add_palette_tokens,
    aspect_redundancy,
    palette_states,
    palette_token,
    reconstruction_loss,
    text_ids,
    tune_palette,
)
from genrec.llm.store_tokenizer import normalised_mutual_information
from genrec.tokenizers.item_codes import ItemCodes
from genrec.tokenizers.palette_kmeans import PaletteKMeans, PaletteKMeansConfig
from genrec.tokenizers.pipeline import run_tokenizer_stage


def test_palette_kmeans_clusters_each_aspect_on_its_own():
    """Two aspects with planted, independent groupings (4 colours x 4 shapes): each level
    recovers its own aspect's grouping exactly, and the other aspect's not at all."""
    torch.manual_seed(0)
    colour, shape = torch.arange(128) % 4, (torch.arange(128) // 4) % 4
    centres_a, centres_b = torch.randn(4, 8) * 5, torch.randn(4, 8) * 5
    vectors = torch.cat([centres_a[colour], centres_b[shape]], 1) + 0.1 * torch.randn(128, 16)
    fit = PaletteKMeans(PaletteKMeansConfig(levels=2, codebook_size=4, kmeans_iters=30)).fit(vectors, seed=0)
    nmi = normalised_mutual_information
    assert nmi(fit.codes[:, 0].numpy(), colour.numpy()) > 0.99
    assert nmi(fit.codes[:, 1].numpy(), shape.numpy()) > 0.99
    assert nmi(fit.codes[:, 0].numpy(), shape.numpy()) < 0.05
    with pytest.raises(ConfigError, match="pca_dims"):  # a residual k-means key, meaningless per aspect
        PaletteKMeans(PaletteKMeansConfig(levels=2, codebook_size=4, pca_dims=4)).fit(vectors, seed=0)


def test_palette_tuning_learns_item_specific_aspects():
    """On 24 item texts a tiny random Llama learns the palette: both losses fall; the text is
    reconstructed far better from the item's own palette than from another item's (equal before
    tuning: the palette carried nothing); the aspects of an item move apart.

    The backbone's initialisation is seeded: unseeded, it came from whatever global RNG state the
    tests before it in the same pytest worker left, and the redundancy check failed about one run
    in ten. Tuning brings the redundancy to about 0.28-0.35 from any of 8 initialisations tried,
    but from an initialisation already near 0.34 (seed 2) it does not fall further."""
    torch.manual_seed(0)
    titles = [f"{c} {s} {m}" for c in ("red", "blue", "green", "gold") for s in ("lipstick", "shampoo", "cream")
              for m in ("matte", "glossy")]
    model, tokenizer = load_backbone(BackboneConfig(path="tiny:llama", tiny_hidden_size=64, tiny_layers=2,
                                                    tiny_heads=4, tiny_max_positions=128), titles)
    ids = add_palette_tokens(model, tokenizer, 3)
    assert tokenizer.convert_ids_to_tokens(ids) == [palette_token(p) for p in range(3)]
    assert add_palette_tokens(model, tokenizer, 3) == ids  # idempotent: a reloaded backbone keeps its ids
    rows = text_ids(tokenizer, titles, 32)

    @torch.no_grad()
    def probe():
        """(loss from each item's own palette, loss from the next item's palette, aspect redundancy)"""
        model.eval()
        palette = palette_states(model, rows, ids, tokenizer.pad_token_id)
        own = float(reconstruction_loss(model, palette, rows, tokenizer.pad_token_id))
        other = float(reconstruction_loss(model, palette.roll(1, 0), rows, tokenizer.pad_token_id))
        model.train()
        return own, other, aspect_redundancy(palette.flatten(1), 3)

    torch.manual_seed(0)
    own_before, other_before, redundancy_before = probe()
    tuner = PaletteTuner(model, tokenizer, titles, ids, PaletteConfig(epochs=60, lr=3e-3, batch_size=12), seed=0)
    trainer = pl.Trainer(max_epochs=60, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0)
    losses = tune_palette(tuner, trainer, np.arange(len(titles)), seed=0)["epoch_losses"]
    assert losses["reconstruction"][-1] < 0.2 * losses["reconstruction"][0], losses
    assert losses["contrastive"][-1] < 0.5 * losses["contrastive"][0], losses
    own, other, redundancy = probe()
    assert abs(own_before - other_before) < 0.1 and own < 0.3 * other, (own_before, other_before, own, other)
    assert redundancy < redundancy_before, (redundancy_before, redundancy)


def test_lamia_scheme_writes_aspect_codes_and_a_backbone_with_its_aspect_tokens(fixture_root):  # noqa: F811
    """One LAMIA iteration on 16 items: one code level per aspect plus TIGER's extra level, unique
    codes, the palette record in the report, and the aspect tokens in the saved backbone's vocabulary."""
    cfg = compose(["data=beauty_lcrec", f"data.root={fixture_root / 'data'}", f"tokenizers_dir={fixture_root / 'tok'}",
                   f"results_dir={fixture_root / 'results'}", "tokenizer=lamia", "tokenizer.levels=2",
                   "tokenizer.codebook_size=4", "tokenizer.llm.backbone.path=tiny:llama",
                   "tokenizer.llm.backbone.tiny_hidden_size=32", "tokenizer.llm.backbone.tiny_layers=1",
                   "tokenizer.palette.epochs=2", "tokenizer.palette.lr=0.005", "tokenizer.palette.batch_size=8",
                   "tokenizer.adaptation.epochs=1", "tokenizer.adaptation.check_items=0",
                   "trainer.enable_progress_bar=false"])
    run_tokenizer_stage(cfg)  # in-process: the train.py stage=tokenizer path without a second interpreter
    folder = fixture_root / "tok" / "lamia-beauty_lcrec"
    codes = ItemCodes.load(folder)  # load checks uniqueness
    assert codes.n_levels == 3 and codes.codebook_sizes[:2] == [4, 4]
    report = json.loads((folder / "report.json").read_text())
    palette = report["store"]["rounds"][0]["palette"]
    assert report["vector_dim"] == 2 * 32 and report["store"]["pooling"] == "palette"
    assert len(palette["epoch_losses"]["reconstruction"]) == 2 and 0 <= palette["aspect_code_nmi"] <= 1
    vocabulary = json.loads((folder / "backbone" / "tokenizer.json").read_text())["added_tokens"]
    assert {palette_token(0), palette_token(1)} <= {t["content"] for t in vocabulary}
