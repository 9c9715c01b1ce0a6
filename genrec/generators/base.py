"""What every generator's LightningModule shares: validation / test by full ranking.

A subclass implements ``training_step`` and ``target_ranks(batch)``: the 0-based rank
of each batch target among the whole catalogue (a score-based model ranks every
item; a generative model decodes a top-K list and a missing target ranks ``inf``).
Validation logs ``valid/recall@K`` and ``valid/ndcg@K``; test logs ``test/...``.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from genrec.evaluation.metrics import DEFAULT_KS, RankMetrics, target_ranks


class RankingModule(pl.LightningModule):
    def __init__(self, ks=DEFAULT_KS):
        super().__init__()
        self.ks = tuple(ks)
        self.valid_metrics = RankMetrics(self.ks)
        self.test_metrics = RankMetrics(self.ks)

    def target_ranks(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def recommend(self, users: torch.Tensor, history: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``top_k`` item ids ``[B, top_k]`` and their scores for left-padded histories."""
        raise NotImplementedError

    def validation_step(self, batch, batch_idx):
        self.valid_metrics.update(self.target_ranks(batch))

    def test_step(self, batch, batch_idx):
        self.test_metrics.update(self.target_ranks(batch))

    def _log_metrics(self, metric: RankMetrics, prefix: str) -> None:
        for name, value in metric.compute().items():
            self.log(f"{prefix}/{name}", value, prog_bar=name == "ndcg@10", sync_dist=True)
        metric.reset()

    def on_validation_epoch_end(self):
        self._log_metrics(self.valid_metrics, "valid")

    def on_test_epoch_end(self):
        self._log_metrics(self.test_metrics, "test")


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
