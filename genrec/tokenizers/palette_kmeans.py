"""Parallel k-means over an item palette (scheme ``palette_kmeans``): one code per aspect.

LAMIA (Liu et al., arXiv 2409.07276 v3) describes each item by an "item palette": several
independent, semantically parallel embeddings, one per aspect, instead of one vector refined
coarse to fine. So the codes are not residual: aspect ``p``'s embeddings are clustered on their
own and give level ``p``'s code. The item vector is the palette flattened, ``[n_items,
levels x d]`` (``genrec/llm/item_palette.py`` makes it); block ``p`` is aspect ``p``. Each block
is z-scored on its own (``standardize``) and clustered by k-means into ``codebook_size`` codes.
Level order carries no coarse-to-fine meaning here, which the decoder does not need.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genrec.errors import ConfigError
from genrec.tokenizers.base import FitOutput, standardize
from genrec.tokenizers.kmeans import kmeans
from genrec.tokenizers.rqkmeans import RQKMeans, RQKMeansConfig


@dataclass
class PaletteKMeansConfig(RQKMeansConfig):  # the same k-means keys: kmeans_iters, kmeans_init
    scheme: str = "palette_kmeans"


class PaletteKMeans(RQKMeans):
    """RQ-KMeans's k-means, run per aspect block instead of on residuals."""

    def fit(self, vectors: torch.Tensor, seed: int = 0) -> FitOutput:
        n, width = vectors.shape
        aspects = self.cfg.levels
        if self.cfg.pca_dims is not None:
            raise ConfigError("tokenizer.pca_dims is a residual k-means key; palette_kmeans clusters each aspect "
                              "block whole: remove it (or set it to null)")
        if width % aspects:
            raise ConfigError(f"tokenizer.scheme=palette_kmeans: the item vectors have {width} dimensions, not a "
                              f"multiple of tokenizer.levels={aspects} (one block per palette aspect)")
        blocks = vectors.float().reshape(n, aspects, width // aspects)
        codes, codebook, inputs, error = [], None, None, 0.0
        for aspect in range(aspects):
            inputs = standardize(blocks[:, aspect]) if self.cfg.standardize else blocks[:, aspect]
            codebook, assign = kmeans(inputs, self.cfg.codebook_size, self.cfg.kmeans_iters, seed + aspect,
                                      init=self.cfg.kmeans_init)
            codes.append(assign)
            error += (inputs - codebook[assign]).pow(2).mean().item() / aspects
        return FitOutput(
            codes=torch.stack(codes, 1),
            codebook_sizes=[self.cfg.codebook_size] * aspects,
            last_inputs=inputs,
            last_codebook=codebook,
            details={"reconstruction_mse": error, "aspect_dim": width // aspects},
        )
