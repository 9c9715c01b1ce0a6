"""EAGER-LLM's dual-source knowledge-rich item indices (DKI; Hong et al., WWW 2025).

Two balanced hierarchical k-means trees, one on **text** vectors and one on **behaviour**
vectors. An item's code is its path in the text tree followed by its path in the behaviour tree.
Each tree has branching ``codebook_size`` (EAGER: 256) and depth ``levels`` (null = ``ceil(log_k N)``,
the smallest depth whose leaves hold every item). Balanced clustering caps each cluster at
``ceil(n / k)`` items, so at that depth every leaf holds one item and each tree alone makes codes
unique by construction: ``fit`` asserts it and the report says so. On our catalogues
(1,682 to 18,357 items, k = 256) each tree has depth 2, so 4 tokens per item.

Vectors, named: EAGER-LLM's text side is LLaMA hidden states over title, description and
categories, and its behaviour side is 1024-d DIN item embeddings. Ours, by default, are the
text source's vectors (``tokenizer.features``: MiniLM, or a causal LM mean-pooled over the item
text) and the item embeddings of a SASRec trained on the same split. Both come from PRORec's
stage 1 with ``fusion.weight: 0``, which is plain SASRec and is cached
(``genrec/features/alignment.py``). ``vectors.safetensors`` holds both, side by side;
``report.dual_source.dims`` says where they split, for EAGER-LLM's GCT. ``sources: [text]`` or
``[behaviour]`` builds one tree only (the paper's single-source ablations); the vectors file keeps
both kinds, so GCT still has its targets.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from genrec.errors import ConfigError
from genrec.tokenizers.base import FitOutput, TokenizerConfig, standardize
from genrec.tokenizers.hkmeans import HierarchicalKMeans, HKMeansConfig


@dataclass
class DualSourceConfig(TokenizerConfig):
    scheme: str = "eager_dual"
    vectors: str = "fused"  # text + SASRec item embeddings (fusion.weight 0 = plain SASRec)
    levels: int | None = None  # depth of each tree; null = ceil(log_codebook_size(n_items))
    codebook_size: int = 256
    collisions: str = "none"  # unique by construction
    balanced: bool = True
    kmeans_iters: int = 30
    sources: list[str] = field(default_factory=lambda: ["text", "behaviour"])  # trees, in code order (ablations: one)


SOURCES = ("text", "behaviour")  # the order of the two vector blocks in vectors.safetensors


def tree_depth(n_items: int, branching: int) -> int:
    return max(1, math.ceil(math.log(max(n_items, 2)) / math.log(branching) - 1e-9))


class DualSourceIndices:
    def __init__(self, cfg: DualSourceConfig, dims: tuple[int, int] | None = None):
        if cfg.codebook_size < 2:
            raise ConfigError(f"tokenizer.codebook_size={cfg.codebook_size}: a tree needs a branching of at least 2")
        if not cfg.sources or set(cfg.sources) - set(SOURCES) or len(set(cfg.sources)) != len(cfg.sources):
            raise ConfigError(f"tokenizer.sources={list(cfg.sources)}: a non-empty list of distinct names from {SOURCES}")
        self.cfg, self.dims = cfg, dims

    def fit(self, vectors: torch.Tensor, seed: int = 0) -> FitOutput:
        if self.dims is None:
            raise ConfigError("tokenizer=eager_dual fits through its stage (fit_stage), which knows where the text "
                              "and behaviour vectors split")
        depth = self.cfg.levels or tree_depth(len(vectors), self.cfg.codebook_size)
        parts = dict(zip(SOURCES, torch.split(vectors, list(self.dims), dim=1)))
        codes, unique = [], {}
        for name in self.cfg.sources:
            part, offset = parts[name], SOURCES.index(name)
            tree = HierarchicalKMeans(HKMeansConfig(levels=depth, codebook_size=self.cfg.codebook_size,
                                                    balanced=self.cfg.balanced, kmeans_iters=self.cfg.kmeans_iters,
                                                    standardize=self.cfg.standardize))
            fitted = tree.fit(part, seed + 1000 * offset).codes
            codes.append(fitted)
            unique[name] = len(torch.unique(fitted, dim=0)) == len(fitted)
        if self.cfg.balanced and self.cfg.levels is None and not all(unique.values()):
            raise AssertionError("balanced trees of depth ceil(log_k N) must give every item its own leaf")
        return FitOutput(codes=torch.cat(codes, 1), codebook_sizes=[self.cfg.codebook_size] * (len(codes) * depth),
                         details={"tree_depth": depth, "unique_by_construction": unique, "dims": list(self.dims)})

    @staticmethod
    def fit_stage(cfg, dataset, staged) -> tuple:
        """Text and behaviour vectors from the configured source, one tree each."""
        from omegaconf import OmegaConf

        from genrec.tokenizers.pipeline import fit_codes
        from genrec.tokenizers.vector_sources import item_vectors

        t = OmegaConf.to_object(cfg.tokenizer)
        if t.vectors != "fused":
            raise ConfigError(f"tokenizer=eager_dual reads text and behaviour vectors from vectors=fused (PRORec's "
                              f"stage 1; fusion.weight 0 = plain SASRec), got vectors={t.vectors!r}")
        start = time.perf_counter()
        _, extras = item_vectors(cfg, dataset)
        text, behaviour = extras["text"].float(), extras["collaborative"].float()
        vectors = torch.cat([standardize(text), standardize(behaviour)], 1)
        scheme = DualSourceIndices(t, (text.shape[1], behaviour.shape[1]))
        item_codes, report, vectors = fit_codes(cfg, dataset, vectors, {}, time.perf_counter() - start, scheme)
        report["dual_source"] = {"dims": [text.shape[1], behaviour.shape[1]], "order": ["text", "behaviour"],
                                 "fusion": extras.get("fusion")}
        return item_codes, report, vectors
