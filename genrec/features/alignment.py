"""PRORec stage 1, cross-modality knowledge alignment: a collaborative model trained with
next-item prediction plus an InfoNCE pull between each item's collaborative embedding
and its adapted text embedding, so semantic knowledge flows into the collaborative
embeddings instead of overwriting them.

    loss = next-item loss (SASRec) + weight * InfoNCE(E_C[items], AdaLN(W E_S + b)[items]; temperature)

The items of the InfoNCE term are the distinct target items of the batch (at most
``align_items``, sampled when more); every other item of that set is a negative. The
InfoNCE is symmetric (collaborative -> text and text -> collaborative, averaged) over
cosine similarities: a choice, the paper does not say.

``fused_item_vectors`` returns what the quantiser reads:

* ``integration=collaborative``: the trained collaborative embeddings E_C (PRORec's
  integrated embedding; with ``weight=0`` this is plain SASRec, the no-alignment ablation);
* ``integration=concat``: standardised text vectors concatenated with standardised E_C
  (the naive concatenation whose "semantic domination" motivates the method).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from genrec.data.dataset import RecDataset
from genrec.features.modality_adapter import AdaLNAdapter
from genrec.generators.sasrec import SASRec, SASRecConfig

INTEGRATIONS = ("collaborative", "concat")


@dataclass
class FusionConfig:
    weight: float = 0.1  # lambda of the alignment term; 0 = plain SASRec
    temperature: float = 0.07  # tau of the InfoNCE
    integration: str = "collaborative"  # collaborative | concat (naive concatenation)
    align_items: int = 1024  # distinct batch items in one InfoNCE
    sasrec: SASRecConfig = field(default_factory=lambda: SASRecConfig(loss="ce", dropout=0.5))
    max_history: int = 50
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 3  # validation checks without improvement of NDCG@10
    check_val_every_n_epoch: int = 2
    max_time_minutes: float | None = 10.0


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE over cosine similarities: row i of ``a`` should match row i of ``b``."""
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    labels = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


class AlignedSASRec(SASRec):
    """SASRec whose item embeddings are also aligned with adapted text vectors."""

    def __init__(self, n_items: int, max_len: int, cfg: SASRecConfig, text: torch.Tensor, weight: float,
                 temperature: float, align_items: int = 1024, ks=(1, 5, 10, 20)):
        super().__init__(n_items, max_len, cfg, ks)
        self.register_buffer("text", text.float(), persistent=False)
        self.adapter = AdaLNAdapter(text.shape[1], cfg.hidden_size)
        self.weight, self.temperature, self.align_items = weight, temperature, align_items

    def alignment_loss(self, items: torch.Tensor) -> torch.Tensor:
        items = items.unique()
        if len(items) > self.align_items:
            items = items[torch.randperm(len(items), device=items.device)[:self.align_items]]
        return info_nce(self.item_emb(items + 1), self.adapter(self.text[items]), self.temperature)

    def training_step(self, batch, batch_idx):
        loss, positions = self.next_item_loss(batch)
        self.log("train/next_item_loss", loss, batch_size=positions)
        if self.weight > 0:
            targets = batch["target_seq"]
            align = self.alignment_loss(targets[targets >= 0])
            self.log("train/alignment_loss", align, batch_size=positions)
            loss = loss + self.weight * align
        self.log("train/loss", loss, prog_bar=True, batch_size=positions)
        return loss


def train_alignment(dataset: RecDataset, text: torch.Tensor, cfg: FusionConfig, seed: int,
                    progress: bool = False) -> tuple[AlignedSASRec, dict]:
    """Stage 1: fit the aligned collaborative model; the best validation-NDCG@10 weights are kept."""
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

    from genrec.data.datamodule import SequentialDataModule

    pl.seed_everything(seed, workers=True)
    datamodule = SequentialDataModule(dataset, max_history=cfg.max_history, train_form="windows",
                                      batch_size=cfg.batch_size, eval_batch_size=1024, seed=seed)
    model = AlignedSASRec(dataset.n_items, cfg.max_history, cfg.sasrec, text, cfg.weight, cfg.temperature,
                          cfg.align_items)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        best = ModelCheckpoint(dirpath=scratch, filename="best", monitor="valid/ndcg@10", mode="max", save_top_k=1)
        trainer = pl.Trainer(
            max_epochs=cfg.max_epochs, check_val_every_n_epoch=cfg.check_val_every_n_epoch,
            max_time={"minutes": cfg.max_time_minutes} if cfg.max_time_minutes else None,
            callbacks=[best, EarlyStopping(monitor="valid/ndcg@10", mode="max", patience=cfg.patience,
                                           check_on_train_epoch_end=False)],
            logger=False, enable_progress_bar=progress, enable_model_summary=False, num_sanity_val_steps=0,
        )
        trainer.fit(model, datamodule=datamodule)
        if best.best_model_path:
            state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
            model.load_state_dict(state, strict=False)  # the text buffer is not persistent
    info = {"epochs": trainer.current_epoch, "wall_time_s": round(time.perf_counter() - start, 1),
            "best_valid_ndcg@10": float(best.best_model_score) if best.best_model_score is not None else None,
            "weight": cfg.weight, "temperature": cfg.temperature, "integration": cfg.integration}
    return model.eval(), info


def integrate(text: torch.Tensor, collaborative: torch.Tensor, integration: str) -> torch.Tensor:
    """The vectors the quantiser reads (see the module docstring)."""
    from genrec.tokenizers.base import standardize

    if integration == "collaborative":
        return collaborative
    if integration == "concat":
        return torch.cat([standardize(text.float()), standardize(collaborative.float())], 1)
    raise ValueError(f"fusion.integration must be one of {INTEGRATIONS}, got {integration!r}")


def fused_item_vectors(dataset: RecDataset, text: torch.Tensor, cfg: FusionConfig, seed: int
                       ) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(fused vectors, collaborative embeddings, stage-1 info) for a dataset and its text vectors."""
    if cfg.integration not in INTEGRATIONS:
        raise ValueError(f"fusion.integration must be one of {INTEGRATIONS}, got {cfg.integration!r}")
    model, info = train_alignment(dataset, text, cfg, seed)
    collaborative = model.item_embeddings().cpu()
    return integrate(text, collaborative, cfg.integration), collaborative, info
