"""How much of a fused representation (or of the codes made from it) follows the text
neighbourhoods and how much the collaborative ones: PRORec's "semantic domination".

For a sample of items, take each item's ``k`` nearest neighbours (cosine) under the
text vectors, under the collaborative vectors and under the fused vectors, and report

* ``text_overlap`` / ``collaborative_overlap``: the mean share of the fused
  neighbours that are also text (collaborative) neighbours;
* ``code_agreement_text`` / ``code_agreement_collaborative``: the share of text
  (collaborative) neighbour pairs whose first code is the same.

Semantic domination shows as text figures far above collaborative ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nearest(vectors: torch.Tensor, rows: torch.Tensor, k: int) -> torch.Tensor:
    """``[len(rows), k]`` nearest items by cosine (the item itself excluded)."""
    unit = F.normalize(vectors.float(), dim=-1)
    similarity = unit[rows] @ unit.T
    similarity[torch.arange(len(rows)), rows] = float("-inf")
    return similarity.topk(k, dim=1).indices


def semantic_domination(text: torch.Tensor, collaborative: torch.Tensor, fused: torch.Tensor,
                        codes: torch.Tensor | None = None, k: int = 10, sample: int = 2000, seed: int = 0) -> dict:
    n = len(fused)
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randperm(n, generator=generator)[:min(sample, n)]
    by_text, by_collab, by_fused = (nearest(v, rows, k) for v in (text, collaborative, fused))

    def overlap(a, b):
        return float((a[:, :, None] == b[:, None, :]).any(2).float().mean())

    result = {"k": k, "items": len(rows), "text_overlap": overlap(by_fused, by_text),
              "collaborative_overlap": overlap(by_fused, by_collab),
              "text_collaborative_overlap": overlap(by_text, by_collab)}
    if codes is not None:
        first = codes[:, 0]
        result["code_agreement_text"] = float((first[by_text] == first[rows, None]).float().mean())
        result["code_agreement_collaborative"] = float((first[by_collab] == first[rows, None]).float().mean())
    return result
