"""Hierarchical k-means (EAGER's item tree): cluster the items into ``codebook_size``
groups, then each group again, ``levels`` deep. ``balanced`` caps every cluster at
``ceil(n / k)`` items (EAGER's balanced tree), which spreads items evenly over the
leaves. A code is the path of cluster indices from the root."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genrec.tokenizers.base import FitOutput, TokenizerConfig, standardize
from genrec.tokenizers.kmeans import kmeans


@dataclass
class HKMeansConfig(TokenizerConfig):
    scheme: str = "hkmeans"
    balanced: bool = True
    kmeans_iters: int = 30


class HierarchicalKMeans:
    def __init__(self, cfg: HKMeansConfig):
        self.cfg = cfg

    def fit(self, vectors: torch.Tensor, seed: int = 0) -> FitOutput:
        x = standardize(vectors.float()) if self.cfg.standardize else vectors.float()
        codes = torch.zeros(len(x), self.cfg.levels, dtype=torch.long)
        groups = [torch.arange(len(x))]
        for level in range(self.cfg.levels):
            next_groups = []
            for g, members in enumerate(groups):
                if len(members) <= 1:
                    next_groups.append(members)
                    continue
                k = min(self.cfg.codebook_size, len(members))
                _, assign = kmeans(x[members], k, self.cfg.kmeans_iters, seed + level * 7919 + g,
                                   balanced=self.cfg.balanced)
                codes[members, level] = assign
                next_groups.extend(members[assign == c] for c in range(k) if (assign == c).any())
            groups = next_groups
        return FitOutput(codes=codes, codebook_sizes=[self.cfg.codebook_size] * self.cfg.levels)
