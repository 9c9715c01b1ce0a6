"""The open code space: every code not yet taken, as a trie the shared decoder can walk.

``CodeTrie`` holds the codes of existing items: ranking can only return real items. Giving a
*new* item a code (STORE's cold start: its text -> a code, by the same LLM) asks the opposite:
any code inside the codebooks *except* the existing ones. ``OpenCodeSpace`` answers the decoder's
``children(level, nodes)`` like a dense ``CodeTrie`` level, computing children on the fly instead
of storing ``prod(codebook_sizes)`` leaves:

- a node at level ``l`` is its code prefix as one integer (mixed radix over the codebook sizes);
- at the last level a child is the full code as one integer, and ``-1`` where that code is taken;
- at the level before the last, a prefix whose last-level codes are all taken has no child, so a
  beam never walks into a dead end;
- with ``seen_prefixes_only``, every level before the last follows a prefix some existing item
  holds: a new item joins an existing group of items and is told apart from them by its last
  code, as TIGER's extra level tells colliding items apart.
"""

from __future__ import annotations

import torch


class OpenCodeSpace:
    def __init__(self, taken_codes: torch.Tensor, codebook_sizes: list[int], seen_prefixes_only: bool = False):
        self.codebook_sizes = [int(s) for s in codebook_sizes]
        self.n_levels = len(self.codebook_sizes)
        self.radix = torch.tensor([int(torch.tensor(self.codebook_sizes[i + 1:]).prod()) for i in range(self.n_levels)])
        taken = torch.as_tensor(taken_codes, dtype=torch.long).reshape(-1, self.n_levels)
        self.taken = torch.unique(self.flatten(taken))  # sorted full codes
        prefixes, counts = torch.unique(self.taken // self.codebook_sizes[-1], return_counts=True)
        self.full_prefixes = prefixes[counts >= self.codebook_sizes[-1]]  # every last-level code taken
        # level l -> the sorted prefixes of length l + 1 that existing items hold (seen_prefixes_only)
        self.seen = ([torch.unique(self.taken // self.radix[level]) for level in range(self.n_levels - 1)]
                     if seen_prefixes_only else None)

    def has_free_code(self) -> bool:
        """Whether the space holds any code at all (the decoder stops on a space with none)."""
        if self.n_levels == 1:
            return len(self.taken) < self.codebook_sizes[0]
        if self.seen is not None:  # some fitted prefix before the last level has a free last code
            return len(self.seen[-1]) > len(self.full_prefixes)
        return len(self.taken) < int(torch.tensor(self.codebook_sizes).prod())

    def flatten(self, codes: torch.Tensor) -> torch.Tensor:
        """Full codes ``[N, L]`` as integers."""
        return (codes.long() * self.radix.to(codes.device)).sum(-1)

    def unflatten(self, flat: torch.Tensor) -> torch.Tensor:
        """Integers back to codes ``[N, L]``."""
        sizes = torch.tensor(self.codebook_sizes, device=flat.device)
        return (flat.long()[..., None] // self.radix.to(flat.device)) % sizes

    def to(self, device) -> OpenCodeSpace:
        self.taken, self.full_prefixes, self.radix = (t.to(device) for t in (self.taken, self.full_prefixes, self.radix))
        if self.seen is not None:
            self.seen = [prefixes.to(device) for prefixes in self.seen]
        return self

    def width(self, level: int) -> int:
        return self.codebook_sizes[level]

    def children(self, level: int, nodes: torch.Tensor) -> tuple[None, torch.Tensor]:
        """``(None, next [N, codebook_size])``: column ``c`` continues the prefix with code ``c``."""
        size = self.codebook_sizes[level]
        child = nodes.long()[:, None] * size + torch.arange(size, device=nodes.device)
        if level == self.n_levels - 1:
            return None, torch.where(_member(child, self.taken), -1, child)
        if self.seen is not None:
            child = torch.where(_member(child, self.seen[level]), child, -1)
        if level == self.n_levels - 2 and len(self.full_prefixes):
            child = torch.where(_member(child, self.full_prefixes), -1, child)
        return None, child


def _member(values: torch.Tensor, sorted_set: torch.Tensor) -> torch.Tensor:
    if not len(sorted_set):
        return torch.zeros_like(values, dtype=torch.bool)
    position = torch.searchsorted(sorted_set, values).clamp(max=len(sorted_set) - 1)
    return sorted_set[position] == values
