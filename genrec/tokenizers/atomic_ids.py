"""Atomic IDs (RecBench's "unique identifier"): one token per item, the item's own id.
A single level whose codebook is the catalogue; never collides."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genrec.tokenizers.base import FitOutput, TokenizerConfig


@dataclass
class AtomicIDsConfig(TokenizerConfig):
    scheme: str = "atomic"
    levels: int = 1
    collisions: str = "none"
    vectors: str = "none"


class AtomicIDs:
    def __init__(self, cfg: AtomicIDsConfig):
        self.cfg = cfg

    def fit(self, vectors: torch.Tensor, seed: int = 0) -> FitOutput:
        n = vectors.shape[0]
        return FitOutput(codes=torch.arange(n)[:, None], codebook_sizes=[n])
