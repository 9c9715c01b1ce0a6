"""Evaluate a trained model on a split: full ranking, one target per user."""

from __future__ import annotations

import time

import torch
from tqdm import tqdm

from genrec.evaluation.metrics import metrics_from_ranks


@torch.no_grad()
def evaluate_model(model, loader, ks, desc: str = "evaluate", progress: bool = True,
                   bf16: bool = False) -> tuple[dict, dict]:
    """Metrics ``{"recall@K", "ndcg@K"}`` and timing ``{"users", "seconds", "users_per_s"}``.
    ``bf16``: score under bfloat16 autocast, as a model trained with ``bf16-mixed`` was
    validated during training."""
    was_training = model.training
    model.eval()
    ranks = []
    start = time.perf_counter()
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        batch = {k: v.to(model.device) for k, v in batch.items()}
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
            ranks.append(model.target_ranks(batch).cpu())
    seconds = time.perf_counter() - start
    model.train(was_training)
    ranks = torch.cat(ranks) if ranks else torch.zeros(0)
    users = len(ranks)
    return metrics_from_ranks(ranks, ks), {
        "users": users,
        "seconds": round(seconds, 3),
        "users_per_s": round(users / seconds, 1) if seconds > 0 else None,
    }
