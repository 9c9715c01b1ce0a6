"""Residual k-means (RQ-KMeans): k-means on the residuals, level by level.

Level 1 clusters the item vectors; each later level clusters what the previous
levels left unexplained (vector minus its assigned centres). No training loop:
the codebooks are the k-means centres.

``kmeans_init``: k-means++ seeding (default) or ``random`` points (Forgy). On small
catalogues k-means++ seeds the deeper levels with outlying residuals and a few hub centres
absorb most items: on MovieLens-100K (1,682 items, 3 x 256, MiniLM title vectors) 32.5% of
items shared a code with k-means++ and 4.8 to 5.5% with random seeding, at the same fit
time (about 4 s); on Beauty (12,101 items) random seeding was slightly worse (26-27%
against 24.3%). The default stays k-means++, the committed rows' setting.
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
    kmeans_init: str = "kmeans++"  # or random (Forgy): far fewer shared codes on small catalogues


class RQKMeans:
    def __init__(self, cfg: RQKMeansConfig):
        from genrec.errors import ConfigError
        from genrec.tokenizers.kmeans import INITS

        if cfg.kmeans_init not in INITS:
            raise ConfigError(f"tokenizer.kmeans_init must be one of {list(INITS)}, got {cfg.kmeans_init!r}")
        self.cfg = cfg

    def fit(self, vectors: torch.Tensor, seed: int = 0) -> FitOutput:
        x = standardize(vectors.float()) if self.cfg.standardize else vectors.float()
        residual = x.clone()
        codes, codebook, inputs = [], None, None
        for level in range(self.cfg.levels):
            inputs = residual.clone()
            codebook, assign = kmeans(residual, self.cfg.codebook_size, self.cfg.kmeans_iters, seed + level,
                                    init=self.cfg.kmeans_init)
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
