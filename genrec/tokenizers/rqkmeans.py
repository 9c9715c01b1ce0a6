"""Residual k-means (RQ-KMeans): k-means on the residuals, level by level.

Level 1 clusters the item vectors; each later level clusters what the previous
levels left unexplained (vector minus its assigned centres). No training loop:
the codebooks are the k-means centres.

``pca_dims``: cluster the leading principal components of the (standardised) vectors instead
of all their dimensions; ``null`` (the default, ``tokenizer=rqkmeans``) clusters the full
vectors, RQ-KMeans as usually described. Why it exists: in 384 dimensions the residuals left
after level 1 are close to orthogonal noise, so the centre nearest to almost every residual is
the one near the origin and one hub code takes most items at levels 2 and 3 (MiniLM title
vectors, 3 x 256, seed 42: level-2/3 perplexity 13 / 4 on MovieLens-100K, 106 / 67 on Beauty;
45% and 25% of items share their code). On the 32 leading components (RQ-VAE's latent size;
``tokenizer=rqkmeans_pca``) every level is used evenly and far fewer items share a code, at the
price of the variance the discarded components held; the reconstruction MSE is measured back
in the input space either way, so the two compare. Whether the even codes train a better
generator on Beauty is an open GPU row (the full-dimension codes gave the best Beauty ablation
row at the 9.5-minute budget; docs/tokenizers.md has a first CPU look on MovieLens-100K). ``bench/rqkmeans_collisions.py`` measures both, with seeding, iterations and
standardisation beside them.

``kmeans_init``: k-means++ seeding (default) or ``random`` points (Forgy). On all 384
dimensions random seeding puts more centres in the dense core of the residuals (ML-100K: 5.5%
of items share a code against 45%; Beauty: no change); on 32 components the two agree. Lloyd
iterations beyond 50 change nothing: every level converges before.
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
    kmeans_init: str = "kmeans++"  # or random (Forgy)
    pca_dims: int | None = None  # cluster this many leading principal components; null: all dimensions


class RQKMeans:
    def __init__(self, cfg: RQKMeansConfig):
        from genrec.errors import ConfigError
        from genrec.tokenizers.kmeans import INITS

        if cfg.kmeans_init not in INITS:
            raise ConfigError(f"tokenizer.kmeans_init must be one of {list(INITS)}, got {cfg.kmeans_init!r}")
        if cfg.pca_dims is not None and cfg.pca_dims < 1:
            raise ConfigError(f"tokenizer.pca_dims must be a positive number of components or null, got {cfg.pca_dims}")
        self.cfg = cfg

    def fit(self, vectors: torch.Tensor, seed: int = 0) -> FitOutput:
        x = standardize(vectors.float()) if self.cfg.standardize else vectors.float()
        mean, components, details = None, None, {}
        if self.cfg.pca_dims is not None:
            mean, components, explained = principal_components(x, self.cfg.pca_dims)
            details = {"pca_dims": components.shape[0], "pca_explained_variance": explained}
        projected = x if components is None else (x - mean) @ components.T
        residual = projected.clone()
        codes, codebook, inputs = [], None, None
        for level in range(self.cfg.levels):
            inputs = residual.clone()
            codebook, assign = kmeans(residual, self.cfg.codebook_size, self.cfg.kmeans_iters, seed + level,
                                    init=self.cfg.kmeans_init)
            codes.append(assign)
            residual = residual - codebook[assign]
        centres_sum = projected - residual
        reconstructed = centres_sum if components is None else mean + centres_sum @ components
        return FitOutput(
            codes=torch.stack(codes, 1),
            codebook_sizes=[self.cfg.codebook_size] * self.cfg.levels,
            last_inputs=inputs,
            last_codebook=codebook,
            details={"reconstruction_mse": (x - reconstructed).pow(2).mean().item(),  # in the input space
                     "input_variance": x.var(0).mean().item(), **details},
        )


def principal_components(x: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(mean [1, d], the ``dims`` leading components as rows [dims, d], the share of variance they keep).
    ``dims`` beyond the data's rank is cut to it."""
    mean = x.mean(0, keepdim=True)
    _, singular_values, right = torch.linalg.svd(x - mean, full_matrices=False)
    dims = min(dims, right.shape[0])
    variance = singular_values.pow(2)
    return mean, right[:dims], (variance[:dims].sum() / variance.sum().clamp(min=1e-12)).item()
