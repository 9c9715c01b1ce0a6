"""Residual k-means (RQ-KMeans): k-means on the residuals, level by level.

Level 1 clusters the item vectors; each later level clusters what the previous
levels left unexplained (vector minus its assigned centres). No training loop:
the codebooks are the k-means centres.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genrec.tokenizers.base import FitOutput, TokenizerConfig, standardize
from genrec.tokenizers.kmeans import kmeans


@dataclass
class RQKMeansConfig(TokenizerConfig):
    scheme: str = "rqkmeans"
    kmeans_iters: int = 50


class RQKMeans:
    def __init__(self, cfg: RQKMeansConfig):
        self.cfg = cfg

    def fit(self, vectors: torch.Tensor, seed: int = 0) -> FitOutput:
        x = standardize(vectors.float()) if self.cfg.standardize else vectors.float()
        residual = x.clone()
        codes, codebook, inputs = [], None, None
        for level in range(self.cfg.levels):
            inputs = residual.clone()
            codebook, assign = kmeans(residual, self.cfg.codebook_size, self.cfg.kmeans_iters, seed + level)
            codes.append(assign)
            residual = residual - codebook[assign]
        reconstruction = residual.pow(2).mean().item()  # x minus the sum of its assigned centres
        return FitOutput(
            codes=torch.stack(codes, 1),
            codebook_sizes=[self.cfg.codebook_size] * self.cfg.levels,
            last_inputs=inputs,
            last_codebook=codebook,
            details={"reconstruction_mse": reconstruction, "input_variance": x.var(0).mean().item()},
        )
