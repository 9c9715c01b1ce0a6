"""The open code space: every code not yet taken, as a trie the shared decoder can walk.

``CodeTrie`` holds the codes of existing items: ranking can only return real items. Giving a
*new* item a code (STORE's cold start: its text -> a code, by the same LLM) asks the opposite:
any code inside the codebooks *except* the existing ones. ``OpenCodeSpace`` answers the decoder's
``children(level, nodes)`` like a dense ``CodeTrie`` level, computing children on the fly instead
of storing ``prod(codebook_sizes)`` leaves:

- a node at level ``l`` is its code prefix as one integer (mixed radix over the codebook sizes);
- at the last level a child is the full code as one integer, and ``-1`` where that code is taken;
- at every level before the last, a prefix below which every code is taken has no child, so a
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
        # level l -> the sorted prefixes of length l + 1 that existing items hold (seen_prefixes_only)
        self.seen = ([torch.unique(self.taken // self.radix[level]) for level in range(self.n_levels - 1)]
                     if seen_prefixes_only else None)
        self.dead = self._dead_prefixes()

    def _dead_prefixes(self) -> list[torch.Tensor]:
        """Level l -> the sorted prefixes of length l + 1 below which no code is free (the last
        level: the taken codes). A prefix is dead when every child it may have is dead: all
        ``codebook_size`` of them, or with ``seen_prefixes_only`` every seen one."""
        dead = [self.taken]
        for level in range(self.n_levels - 2, -1, -1):
            size = self.codebook_sizes[level + 1]
            parents, dead_children = torch.unique(dead[0] // size, return_counts=True)
            allowed = torch.full_like(parents, size)
            if self.seen is not None and level < self.n_levels - 2:  # children are seen prefixes only
                seen_parents, seen_children = torch.unique(self.seen[level + 1] // size, return_counts=True)
                allowed = seen_children[torch.searchsorted(seen_parents, parents)]
            dead.insert(0, parents[dead_children >= allowed])
        return dead

    def has_free_code(self) -> bool:
        """Whether the space holds any code at all (the decoder stops on a space with none)."""
        roots = self.codebook_sizes[0] if self.seen is None or self.n_levels == 1 else len(self.seen[0])
        return len(self.dead[0]) < roots

    def flatten(self, codes: torch.Tensor) -> torch.Tensor:
        """Full codes ``[N, L]`` as integers."""
        return (codes.long() * self.radix.to(codes.device)).sum(-1)

    def unflatten(self, flat: torch.Tensor) -> torch.Tensor:
        """Integers back to codes ``[N, L]``."""
        sizes = torch.tensor(self.codebook_sizes, device=flat.device)
        return (flat.long()[..., None] // self.radix.to(flat.device)) % sizes

    def to(self, device) -> OpenCodeSpace:
        self.taken, self.radix = self.taken.to(device), self.radix.to(device)
        self.dead = [prefixes.to(device) for prefixes in self.dead]
        if self.seen is not None:
            self.seen = [prefixes.to(device) for prefixes in self.seen]
        return self

    def width(self, level: int) -> int:
        return self.codebook_sizes[level]

    def children(self, level: int, nodes: torch.Tensor) -> tuple[None, torch.Tensor]:
        """``(None, next [N, codebook_size])``: column ``c`` continues the prefix with code ``c``."""
        size = self.codebook_sizes[level]
        child = nodes.long()[:, None] * size + torch.arange(size, device=nodes.device)
        if self.seen is not None and level < self.n_levels - 1:
            child = torch.where(_member(child, self.seen[level]), child, -1)
        return None, torch.where(_member(child, self.dead[level]), -1, child)


def _member(values: torch.Tensor, sorted_set: torch.Tensor) -> torch.Tensor:
    if not len(sorted_set):
        return torch.zeros_like(values, dtype=torch.bool)
    position = torch.searchsorted(sorted_set, values).clamp(max=len(sorted_set) - 1)
    return sorted_set[position] == values
