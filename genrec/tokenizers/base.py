"""What every tokenizer scheme shares: its config keys and the output of a fit.

A scheme is a class with ``__init__(cfg)`` and ``fit(vectors, seed) -> FitOutput``.
The shared pipeline (genrec/tokenizers/pipeline.py) feeds it item vectors, resolves
collisions, checks and saves the ``ItemCodes`` and writes the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from genrec.features.alignment import FusionConfig
from genrec.features.text import TextFeatureConfig


@dataclass
class TokenizerConfig:
    scheme: str = "???"
    name: str | None = None  # artefact folder tokenizers/<name>; default <file>-<dataset>
    levels: int = 3
    codebook_size: int = 256
    collisions: str = "extra_level"  # extra_level (TIGER) | sinkhorn (LC-Rec) | none
    sinkhorn_epsilon: float = 0.003
    sinkhorn_rounds: int = 20
    sinkhorn_iterations: int = 200
    exact_fallback: bool = True  # after Sinkhorn rounds, see genrec/tokenizers/collisions.py
    standardize: bool = True  # z-score each input dimension before fitting
    min_level1_usage: float = 0.5  # warn loudly when level 1 uses fewer codes than this share
    vectors: str = "text"  # text | collaborative (SASRec item embeddings of collaborative_run) | fused (PRORec)
    collaborative_run: str | None = None  # checkpoints/<run> holding item_embeddings.safetensors
    features: TextFeatureConfig = field(default_factory=TextFeatureConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)  # vectors=fused: PRORec stage 1
    fusion_cache_dir: str | None = ".cache/genrec/fusion"  # reuse a stage-1 fit; null: off
    fit_cache_dir: str | None = ".cache/genrec/fits"  # reuse a fit when only collision keys change; null: off


@dataclass
class FitOutput:
    codes: torch.Tensor  # [n_items, levels] before collision handling
    codebook_sizes: list[int]
    last_inputs: torch.Tensor | None = None  # what the last level quantised [n_items, d]
    last_codebook: torch.Tensor | None = None  # the last level's codebook [K, d]
    details: dict = field(default_factory=dict)  # scheme-specific figures for the report


def standardize(vectors: torch.Tensor) -> torch.Tensor:
    mean = vectors.mean(0, keepdim=True)
    std = vectors.std(0, keepdim=True).clamp(min=1e-6)
    return (vectors - mean) / std
