"""What every generator's LightningModule shares: validation / test by full ranking.

A subclass implements ``batch_losses(batch)`` (or its own ``training_step``) and
``target_ranks(batch)``: the 0-based rank of each batch target among the whole catalogue
(a score-based model ranks every item; a generative model decodes a top-K list and a
missing target ranks ``inf``). Validation logs ``valid/recall@K`` and ``valid/ndcg@K``;
test logs ``test/...``.

``batch_losses`` is a pure tensor function (no logging, no host sync), so the GPU fast
path (``genrec/training/fast_loop.py``) can capture it in a CUDA graph. A batch may carry
``weight`` ``[B]``: the fast path pads its last batch of an epoch to the static batch size
with weight-0 rows, which must not count.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from genrec.errors import ArtefactError
from genrec.evaluation.metrics import DEFAULT_KS, RankMetrics, target_ranks


def example_weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-example ``values`` ``[B, ...]``; with ``weight`` ``[B]`` each example counts by
    its weight (0 = a padding row). Equal to ``values.mean()`` when every weight is 1."""
    if weight is None:
        return values.mean()
    weight = weight.to(values.dtype)
    per_example = values.reshape(len(values), -1).mean(1)
    return (per_example * weight).sum() / weight.sum().clamp(min=1e-12)


class RankingModule(pl.LightningModule):
    def __init__(self, ks=DEFAULT_KS):
        super().__init__()
        self.ks = tuple(ks)
        self.valid_metrics = RankMetrics(self.ks)
        self.test_metrics = RankMetrics(self.ks)
        self.dataset_fingerprint: str | None = None  # set by the pipeline; recorded in every checkpoint

    def on_save_checkpoint(self, checkpoint):
        checkpoint["dataset_fingerprint"] = self.dataset_fingerprint

    def check_checkpoint(self, checkpoint: dict, path) -> None:
        """Refuse weights trained on another dataset (a checkpoint from before fingerprints passes)."""
        recorded = checkpoint.get("dataset_fingerprint")
        if recorded and self.dataset_fingerprint and recorded != self.dataset_fingerprint:
            raise ArtefactError(
                f"{path} was trained on dataset {recorded}, but the data loaded now has fingerprint "
                f"{self.dataset_fingerprint} (the files changed, or data.* points elsewhere); evaluate with the "
                "data the run was trained on, or train a new run on this data."
            )

    def target_ranks(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def batch_losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"loss": what is minimised, other named terms...}`` for one training batch."""
        raise NotImplementedError

    def training_step(self, batch, batch_idx):
        losses = self.batch_losses(batch)
        for name, value in losses.items():
            self.log(f"train/{name}", value, prog_bar=name == "loss", batch_size=len(next(iter(batch.values()))))
        return losses["loss"]

    def recommend(self, users: torch.Tensor, history: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``top_k`` item ids ``[B, top_k]`` and their scores for left-padded histories."""
        raise NotImplementedError

    def validation_step(self, batch, batch_idx):
        self.valid_metrics.update(self.target_ranks(batch), batch["user"])

    def test_step(self, batch, batch_idx):
        self.test_metrics.update(self.target_ranks(batch), batch["user"])

    def _log_metrics(self, metric: RankMetrics, prefix: str) -> None:
        for name, value in metric.compute().items():
            self.log(f"{prefix}/{name}", value, prog_bar=name == "ndcg@10", sync_dist=True)
        metric.reset()

    def on_validation_epoch_end(self):
        self._log_metrics(self.valid_metrics, "valid")

    def on_test_epoch_end(self):
        self._log_metrics(self.test_metrics, "test")


class CodeRankingModule(RankingModule):
    """A generator over a tokenizer's item codes: its checkpoints record the codes' fingerprint,
    and weights trained on other codes are refused (TIGER, PRORec, the LLM generators)."""

    def __init__(self, item_codes, ks=DEFAULT_KS):
        super().__init__(ks)
        self.item_codes = item_codes

    def on_save_checkpoint(self, checkpoint):
        super().on_save_checkpoint(checkpoint)
        checkpoint["item_codes_fingerprint"] = self.item_codes.fingerprint

    def check_checkpoint(self, checkpoint: dict, path) -> None:
        """Refuse weights trained on other codes (or another dataset) than the ones loaded."""
        super().check_checkpoint(checkpoint, path)
        recorded = checkpoint.get("item_codes_fingerprint")
        if recorded != self.item_codes.fingerprint:
            raise ArtefactError(
                f"{path} was trained on item codes {recorded}, but the tokenizer loaded now has "
                f"{self.item_codes.fingerprint}; evaluate with the tokenizer the run was trained on "
                "or retrain the generator on these codes."
            )


class ScoringModule(RankingModule):
    """A model that scores every item: ranks come from ``score_all`` with the items the
    user has already seen excluded when ``exclude_seen`` (the SASRec / S3-Rec protocol)."""

    def __init__(self, ks=DEFAULT_KS, exclude_seen: bool = True):
        super().__init__(ks)
        self.exclude_seen = exclude_seen

    def score_all(self, history: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, n_items]`` for left-padded histories ``[B, T]`` (pad = -1)."""
        raise NotImplementedError

    def masked_scores(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        scores = self.score_all(batch["history"]).float()
        if self.exclude_seen and "seen" in batch:
            seen = batch["seen"]
            rows = torch.arange(len(seen), device=seen.device)[:, None].expand_as(seen)
            valid = seen >= 0
            scores[rows[valid], seen[valid]] = float("-inf")
        return scores

    def target_ranks(self, batch):
        return target_ranks(self.masked_scores(batch), batch["target"])

    @torch.no_grad()
    def recommend(self, users, history, top_k):
        scores, items = self.score_all(history).float().topk(top_k, dim=1)
        return items, scores
