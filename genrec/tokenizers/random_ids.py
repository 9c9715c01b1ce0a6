"""Random codes (TIGER's "Random ID" ablation): the same shape as semantic codes,
drawn uniformly at random, so any gain of a semantic scheme over it is semantics."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genrec.tokenizers.base import FitOutput, TokenizerConfig


@dataclass
class RandomIDsConfig(TokenizerConfig):
    scheme: str = "random"
    vectors: str = "none"  # needs no item vectors


class RandomIDs:
    def __init__(self, cfg: RandomIDsConfig):
        self.cfg = cfg

    def fit(self, vectors: torch.Tensor, seed: int = 0) -> FitOutput:
        generator = torch.Generator().manual_seed(seed)
        n = vectors.shape[0]
        codes = torch.randint(self.cfg.codebook_size, (n, self.cfg.levels), generator=generator)
        return FitOutput(codes=codes, codebook_sizes=[self.cfg.codebook_size] * self.cfg.levels)
