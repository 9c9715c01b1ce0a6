"""The LLM generators' optimiser, as Hugging Face's ``Trainer`` builds it for LC-Rec's reference
code (and so for EAGER-LLM's, which builds on it): AdamW with weight decay on every weight
matrix and embedding but none on biases and normalisation weights (the Trainer's
``get_decay_parameter_names``), and a cosine schedule after a linear warm-up. The Trainer's
other default, gradient clipping at norm 1.0 (``max_grad_norm``), is ``trainer.gradient_clip_val``
in the LLM experiment configs."""

from __future__ import annotations

import math

import torch


def decay_groups(named_parameters, weight_decay: float) -> list[dict]:
    """AdamW parameter groups: matrices and embeddings decay, vectors (biases, norm weights) don't.
    The Trainer decides by name (``bias``, ``norm``, ``layernorm``, ...); on transformer LLMs those
    are exactly the one-dimensional parameters. Frozen parameters are left out."""
    decay, no_decay = [], []
    for _, parameter in named_parameters:
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def adamw_with_cosine(module, named_parameters, lr: float, weight_decay: float, warmup_ratio: float) -> dict:
    """``configure_optimizers``'s answer for a LightningModule ``module`` attached to its trainer."""
    from transformers import get_cosine_schedule_with_warmup

    optimizer = torch.optim.AdamW(decay_groups(named_parameters, weight_decay), lr=lr)
    total = max(int(module.trainer.estimated_stepping_batches), 1)
    schedule = get_cosine_schedule_with_warmup(optimizer, math.ceil(warmup_ratio * total), total)  # as the Trainer rounds
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
