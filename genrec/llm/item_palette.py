"""LAMIA's item palette on the LLM backbone: several aspect embeddings per item, tuned on the
domain by text reconstruction and a contrastive task (arXiv 2409.07276 v3; abstract only).

LAMIA's abstract says: instead of one embedding, learn an "item palette", a collection of
independent, semantically parallel embeddings capturing several aspects of an item, and tune
the encoder on the domain with text-based reconstruction tasks. Its body (how aspects are read
out, which reconstruction, which contrastive task, which clustering) was not available to us,
so every mechanism below is our reading, named here and in docs/store.md:

- **Read-out**: ``levels`` learnt aspect tokens ``<palette_1> ... <palette_P>`` are appended to
  the item's text; aspect ``p`` is the hidden state of layer ``layer`` at ``<palette_p>`` (the
  causal backbone lets it read the whole text). The tokens are new rows of the backbone's
  vocabulary, initialised ``N(0, initializer_range)``.
- **Reconstruction** (token -> text, as an autoencoder): the palette, each vector rescaled to the
  mean norm of the input embedding rows, is the soft prefix from which the same backbone
  regenerates the item's text, teacher-forced, loss on the text tokens only.
- **Contrastive** (keeps aspects item-specific and apart): a second view of the text with a share
  ``view_drop`` of its tokens deleted; symmetric InfoNCE (``temperature``) where each (item,
  aspect) must find its own (item, aspect) in the other view among every other (item, aspect)
  of the batch, the same item's other aspects included, so aspects are pushed apart.
- Loss = ``reconstruction_weight`` x reconstruction + ``contrastive_weight`` x contrastive; the
  whole backbone and the aspect rows are trained (full fine-tuning), AdamW, cosine schedule.

The item vector handed to the quantiser is the palette flattened, ``[n_items, P x hidden]``;
``palette_kmeans`` clusters each aspect's block on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from genrec.errors import ConfigError
from genrec.features.alignment import info_nce
from genrec.llm.optimizer import adamw_with_cosine


@dataclass
class PaletteConfig:
    epochs: int = 3
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.01
    batch_size: int = 32
    max_length: int = 64  # tokens of item text read (and reconstructed)
    reconstruction_weight: float = 1.0
    contrastive_weight: float = 1.0
    temperature: float = 0.1
    view_drop: float = 0.15  # share of text tokens deleted in the contrastive second view


def palette_token(aspect: int) -> str:
    return f"<palette_{aspect + 1}>"


def add_palette_tokens(model, tokenizer, aspects: int) -> list[int]:
    """Add the aspect tokens (no-op for ones the tokenizer has) with ``N(0, initializer_range)`` rows;
    their ids, in aspect order."""
    if aspects < 1:
        raise ConfigError(f"tokenizer.levels={aspects}: a palette needs at least one aspect")
    names = [palette_token(p) for p in range(aspects)]
    if tokenizer.add_tokens(names, special_tokens=True):
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    return tokenizer.convert_tokens_to_ids(names)


def text_ids(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    return tokenizer([t or " " for t in texts], truncation=True, max_length=max_length)["input_ids"]


def drop_tokens(rows: list[list[int]], share: float, generator: np.random.Generator) -> list[list[int]]:
    """Each row with a random ``share`` of its tokens deleted (at least one kept)."""
    out = []
    for row in rows:
        keep = generator.random(len(row)) >= share
        keep[generator.integers(len(row))] = True
        out.append([t for t, k in zip(row, keep) if k])
    return out


def left_padded(rows: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """``input_ids``, ``attention_mask`` and ``position_ids`` (counted from each row's first token)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row)
        mask[i, width - len(row):] = 1
    return {"input_ids": ids, "attention_mask": mask, "position_ids": (mask.cumsum(1) - 1).clamp(min=0)}


def palette_states(model, rows: list[list[int]], palette_ids: list[int], pad_id: int, layer: int = -1) -> torch.Tensor:
    """``[len(rows), P, hidden]``: layer ``layer``'s states at the aspect tokens appended to each row."""
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in left_padded([r + palette_ids for r in rows], pad_id).items()}
    hidden = model(**batch, output_hidden_states=True, use_cache=False).hidden_states
    if not -len(hidden) <= layer < len(hidden):
        raise ConfigError(f"tokenizer.llm.layer={layer}: the backbone has {len(hidden)} hidden-state layers")
    return hidden[layer][:, -len(palette_ids):].float()


def reconstruction_loss(model, palette: torch.Tensor, rows: list[list[int]], pad_id: int) -> torch.Tensor:
    """Teacher-forced LM loss of each row's text after its palette as a soft prefix."""
    device = palette.device
    embeddings = model.get_input_embeddings()
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
    labels = torch.full((len(rows), palette.shape[1] + width), -100, dtype=torch.long, device=device)
    mask = torch.zeros((len(rows), palette.shape[1] + width), dtype=torch.long, device=device)
    mask[:, :palette.shape[1]] = 1
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row, device=device)
        labels[i, palette.shape[1]:palette.shape[1] + len(row)] = ids[i, :len(row)]
        mask[i, palette.shape[1]:palette.shape[1] + len(row)] = 1
    scale = embeddings.weight.detach().float().norm(dim=-1).mean()
    prefix = palette * (scale / palette.norm(dim=-1, keepdim=True).clamp(min=1e-6))
    inputs = torch.cat([prefix.to(embeddings.weight.dtype), embeddings(ids)], 1)
    return model(inputs_embeds=inputs, attention_mask=mask, labels=labels, use_cache=False).loss


class PaletteTuner(pl.LightningModule):
    """Trains the backbone and its aspect rows on reconstruction + contrastive over ``texts``."""

    def __init__(self, model, tokenizer, texts: list[str], palette_ids: list[int], cfg: PaletteConfig,
                 layer: int = -1, seed: int = 0):
        super().__init__()
        self.model, self.tokenizer, self.cfg, self.layer = model, tokenizer, cfg, layer
        self.rows = text_ids(tokenizer, texts, cfg.max_length)
        self.palette_ids, self.pad_id = palette_ids, tokenizer.pad_token_id
        self.views = np.random.default_rng(seed)
        self.epoch_sums: list[list[float]] = []

    def training_step(self, items, batch_idx):
        rows = [self.rows[i] for i in items.tolist()]
        palette = palette_states(self.model, rows, self.palette_ids, self.pad_id, self.layer)
        loss, parts = palette.new_zeros(()), {}
        if self.cfg.reconstruction_weight:
            parts["reconstruction"] = reconstruction_loss(self.model, palette, rows, self.pad_id)
            loss = loss + self.cfg.reconstruction_weight * parts["reconstruction"]
        if self.cfg.contrastive_weight:
            view = palette_states(self.model, drop_tokens(rows, self.cfg.view_drop, self.views), self.palette_ids,
                                  self.pad_id, self.layer)
            parts["contrastive"] = info_nce(palette.flatten(0, 1), view.flatten(0, 1), self.cfg.temperature)
            loss = loss + self.cfg.contrastive_weight * parts["contrastive"]
        if batch_idx == 0:
            self.epoch_sums.append([0.0, 0.0, 0])
        sums = self.epoch_sums[-1]
        sums[0] += float(parts.get("reconstruction", torch.zeros(())).detach())
        sums[1] += float(parts.get("contrastive", torch.zeros(())).detach())
        sums[2] += 1
        return loss

    def epoch_losses(self) -> dict[str, list[float]]:
        return {name: [round(s[k] / max(s[2], 1), 4) for s in self.epoch_sums]
                for k, name in enumerate(("reconstruction", "contrastive"))}

    def configure_optimizers(self):
        return adamw_with_cosine(self, self.model.named_parameters(), self.cfg.lr, self.cfg.weight_decay,
                                 self.cfg.warmup_ratio)


def tune_palette(tuner: PaletteTuner, trainer: pl.Trainer, items: np.ndarray, seed: int) -> dict:
    """Train ``tuner`` over ``items`` (catalogue indices); its record."""
    loader = torch.utils.data.DataLoader(torch.as_tensor(items, dtype=torch.long), batch_size=tuner.cfg.batch_size,
                                         shuffle=True, generator=torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    trainer.fit(tuner, train_dataloaders=loader)
    return {"items": len(items), "steps": trainer.global_step, "epoch_losses": tuner.epoch_losses(),
            "wall_time_s": round(time.perf_counter() - start, 2)}


@torch.no_grad()
def palette_vectors(model, tokenizer, texts: list[str], palette_ids: list[int], layer: int = -1,
                    batch_size: int = 32, max_length: int = 64) -> torch.Tensor:
    """``[len(texts), P x hidden]`` float32 on the CPU: every item's palette, flattened aspect by aspect."""
    was_training = model.training
    model.eval()
    rows = text_ids(tokenizer, texts, max_length)
    try:
        out = [palette_states(model, rows[s:s + batch_size], palette_ids, tokenizer.pad_token_id, layer).cpu()
               for s in range(0, len(rows), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).flatten(1)


def aspect_redundancy(vectors: torch.Tensor, aspects: int) -> float:
    """Mean |cosine| between different aspects of the same item (0: orthogonal aspects, 1: copies)."""
    palette = F.normalize(vectors.reshape(len(vectors), aspects, -1), dim=-1)
    if aspects < 2:
        return 1.0
    cosines = (palette @ palette.transpose(1, 2)).abs()
    off_diagonal = ~torch.eye(aspects, dtype=torch.bool)
    return round(float(cosines[:, off_diagonal].mean()), 4)
