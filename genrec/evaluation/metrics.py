"""Recall@K and NDCG@K with one target per user, computed from the target's rank.

A rank is 0-based (0 = first place). With one relevant item, Recall@K is 1 when
``rank < K`` and NDCG@K is ``1 / log2(rank + 2)`` (the ideal DCG is 1).

Ties (score-based models): the target is placed *after* every other item with the
same score (``rank = #greater + #equal-others``), so ties never flatter a model; a
model that scores everything equally gets zero. Generative models produce a
ranked list; a target missing from it has rank infinity.
"""

from __future__ import annotations

import math

import torch
from torchmetrics import Metric

DEFAULT_KS = (1, 5, 10, 20)


def target_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pessimistic 0-based rank of ``targets`` in each row of ``scores`` ``[B, n_items]``.

    Rows may contain ``-inf`` for excluded items; a target at ``-inf`` gets rank ``inf``.
    """
    target_scores = scores.gather(1, targets[:, None])
    greater = (scores > target_scores).sum(1)
    ties = (scores == target_scores).sum(1) - 1
    ranks = (greater + ties).float()
    return torch.where(torch.isneginf(target_scores[:, 0]), torch.full_like(ranks, math.inf), ranks)


def list_ranks(recommended: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0-based position of each target in its ranked list ``[B, K]`` (``inf`` if absent)."""
    hits = recommended == targets[:, None]
    positions = hits.float().argmax(1).float()
    return torch.where(hits.any(1), positions, torch.full_like(positions, math.inf))


def metrics_from_ranks(ranks: torch.Tensor, ks=DEFAULT_KS) -> dict[str, float]:
    """``{"recall@K", "ndcg@K"}`` averaged over users."""
    ranks = ranks.float()
    out = {}
    for k in ks:
        hit = ranks < k
        out[f"recall@{k}"] = hit.float().mean().item() if len(ranks) else 0.0
        gain = torch.where(hit, 1.0 / torch.log2(ranks.clamp(max=1e9) + 2.0), torch.zeros_like(ranks))
        out[f"ndcg@{k}"] = gain.mean().item() if len(ranks) else 0.0
    return out


class RankMetrics(Metric):
    """torchmetrics accumulator of target ranks (with their users, so that ranks gathered from
    several processes are averaged in user order: the same float sums as one process);
    ``compute()`` gives Recall/NDCG@K."""

    full_state_update = False

    def __init__(self, ks=DEFAULT_KS):
        super().__init__()
        self.ks = tuple(ks)
        self.add_state("ranks", default=[], dist_reduce_fx="cat")
        self.add_state("users", default=[], dist_reduce_fx="cat")

    def update(self, ranks: torch.Tensor, users: torch.Tensor | None = None) -> None:
        self.ranks.append(ranks.detach().float())
        self.users.append((users if users is not None else torch.arange(len(ranks), device=ranks.device)).detach())

    def compute(self) -> dict[str, float]:
        ranks = torch.cat(self.ranks) if isinstance(self.ranks, list) else self.ranks
        users = torch.cat(self.users) if isinstance(self.users, list) else self.users
        return metrics_from_ranks(ranks.cpu()[users.cpu().argsort(stable=True)], self.ks)
