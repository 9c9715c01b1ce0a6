"""Evaluate a trained model on a split: full ranking, one target per user.

Under several processes each ranks its shard of the users (``genrec/distributed.py``) and the
ranks are gathered in user order, so every user counts once and the metrics equal a single
process's exactly."""

from __future__ import annotations

import time

import torch
from tqdm import tqdm

from genrec.distributed import gather_in_user_order
from genrec.evaluation.metrics import metrics_from_ranks


def evaluate_model(model, loader, ks, desc: str = "evaluate", progress: bool = True,
                   bf16: bool = False) -> tuple[dict, dict]:
    """Metrics ``{"recall@K", "ndcg@K"}`` and timing ``{"users", "seconds", "users_per_s"}``.
    ``bf16``: score under bfloat16 autocast, as a model trained with ``bf16-mixed`` was
    validated during training."""
    ranks, timing = rank_targets(model, loader, desc, progress, bf16)
    return metrics_from_ranks(ranks, ks), timing


@torch.no_grad()
def rank_targets(model, loader, desc: str = "evaluate", progress: bool = True,
                 bf16: bool = False) -> tuple[torch.Tensor, dict]:
    """Each user's target rank, in user order (the split's example order), and timing."""
    was_training = model.training
    model.eval()
    ranks, users = [], []
    start = time.perf_counter()
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        batch = {k: v.to(model.device) for k, v in batch.items()}
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
            ranks.append(model.target_ranks(batch).cpu())
        users.append(batch["user"].cpu())
    seconds = time.perf_counter() - start
    model.train(was_training)
    ranks = gather_in_user_order(torch.cat(users) if users else torch.zeros(0, dtype=torch.long),
                                 torch.cat(ranks) if ranks else torch.zeros(0))
    users = len(ranks)
    return ranks, {
        "users": users,
        "seconds": round(seconds, 3),
        "users_per_s": round(users / seconds, 1) if seconds > 0 else None,
    }
