"""SASRec (Kang & McAuley, ICDM 2018): a causal self-attention next-item model.

Follows the authors' reference code (and its PyTorch port): item embeddings scaled
by sqrt(d) plus learned positions, pre-LayerNorm on the attention query, a
point-wise feed-forward block, a final LayerNorm, and scores as dot products with
the (shared) item embeddings. Two losses:

* ``bce``: binary cross-entropy with one sampled negative per position (the paper's);
* ``ce``: full-softmax cross-entropy over the whole catalogue (as in later work,
  e.g. Klenitskiy & Vasilev 2023), usually clearly stronger.

The trained item embeddings (``item_embeddings()``) are the collaborative item
vectors later tokenizers use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genrec.generators.base import ScoringModule
from genrec.generators.dropout import Dropout

LOSSES = ("bce", "ce")


@dataclass
class SASRecConfig:
    model: str = "sasrec"
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 1
    dropout: float = 0.5
    loss: str = "bce"  # bce (one sampled negative) | ce (full softmax)
    lr: float = 1e-3
    weight_decay: float = 0.0
    train_form: str = "windows"  # SASRec trains on whole sequences, all positions at once


class PointWiseFeedForward(nn.Module):
    def __init__(self, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(hidden, hidden), Dropout(dropout), nn.ReLU(), nn.Linear(hidden, hidden), Dropout(dropout)
        )

    def forward(self, x):
        return x + self.net(x)


class SASRecBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.attn_norm = nn.LayerNorm(hidden, eps=1e-8)
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-8)
        self.ffn = PointWiseFeedForward(hidden, dropout)

    def forward(self, x, causal_mask, keep):
        query = self.attn_norm(x)
        attended, _ = self.attn(query, x, x, attn_mask=causal_mask, need_weights=False)
        x = self.ffn(self.ffn_norm(query + attended))
        return x * keep


class SASRec(ScoringModule):
    def __init__(self, n_items: int, max_len: int, cfg: SASRecConfig, ks=(1, 5, 10, 20), exclude_seen=True):
        super().__init__(ks, exclude_seen)
        if cfg.loss not in LOSSES:
            raise ValueError(f"generator.loss must be one of {LOSSES}, got {cfg.loss!r}")
        self.save_hyperparameters({"n_items": n_items, "max_len": max_len, "config": vars(cfg).copy()})
        self.cfg = cfg
        self.n_items = n_items
        self.max_len = max_len
        d = cfg.hidden_size
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)  # row 0 = padding
        self.pos_emb = nn.Embedding(max_len + 1, d, padding_idx=0)  # position 0 = padding
        self.emb_dropout = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(SASRecBlock(d, cfg.num_heads, cfg.dropout) for _ in range(cfg.num_layers))
        self.final_norm = nn.LayerNorm(d, eps=1e-8)
        nn.init.xavier_normal_(self.item_emb.weight[1:].data)
        nn.init.xavier_normal_(self.pos_emb.weight[1:].data)

    def sequence_features(self, history: torch.Tensor) -> torch.Tensor:
        """Hidden states ``[B, T, d]`` for histories padded with -1 (left or right)."""
        ids = history + 1
        keep = (ids > 0).unsqueeze(-1).float()
        x = self.item_emb(ids) * math.sqrt(self.cfg.hidden_size)
        positions = torch.cumsum((ids > 0).long(), dim=1) * (ids > 0).long()  # 1.. over real items
        x = self.emb_dropout(x + self.pos_emb(positions.clamp(max=self.max_len))) * keep
        T = ids.shape[1]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=ids.device), diagonal=1)
        for block in self.blocks:
            x = block(x, causal, keep)
        return self.final_norm(x)

    def item_embeddings(self) -> torch.Tensor:
        """``[n_items, d]`` collaborative item vectors in internal-id order."""
        return self.item_emb.weight[1:].detach()

    def score_all(self, history):
        last = self.sequence_features(history)[:, -1]  # histories are left-padded
        return last @ self.item_emb.weight[1:].T

    def batch_losses(self, batch):
        return {"loss": self.next_item_loss(batch)[0]}

    def training_step(self, batch, batch_idx):
        loss, positions = self.next_item_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=positions)
        return loss

    def next_item_loss(self, batch) -> tuple[torch.Tensor, int]:
        """The configured next-item loss over every valid position, and the number of positions."""
        features = self.sequence_features(batch["history"])
        targets = batch["target_seq"]
        valid = targets >= 0
        h = features[valid]
        positives = targets[valid]
        if self.cfg.loss == "ce":
            logits = h @ self.item_emb.weight[1:].T
            loss = F.cross_entropy(logits, positives)
        else:
            negatives = batch["negative_seq"][valid]
            pos_logit = (h * self.item_emb(positives + 1)).sum(-1)
            neg_logit = (h * self.item_emb(negatives + 1)).sum(-1)
            loss = F.binary_cross_entropy_with_logits(
                pos_logit, torch.ones_like(pos_logit)
            ) + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit))
        return loss, int(valid.sum())

    def configure_optimizers(self):
        return torch.optim.Adam(
            self.parameters(), lr=self.cfg.lr, betas=(0.9, 0.98), weight_decay=self.cfg.weight_decay
        )

    @classmethod
    def from_config(cls, cfg, datamodule) -> SASRec:
        """Build from a composed run config and its DataModule."""
        from omegaconf import OmegaConf

        return cls(
            n_items=datamodule.n_items,
            max_len=cfg.data.max_history,
            cfg=OmegaConf.to_object(cfg.generator),
            ks=tuple(cfg.evaluation.ks),
            exclude_seen=cfg.evaluation.exclude_seen,
        )

    def export_artefacts(self, directory, meta: dict) -> None:
        """Write the trained item embeddings (collaborative item vectors) next to the checkpoint."""
        from genrec.features.collaborative import save_item_vectors

        save_item_vectors(directory, self.item_embeddings(), meta)
