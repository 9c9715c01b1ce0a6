"""The code trie as tensors: one transition table per level, built from ``ItemCodes``.

Level ``l`` has ``n_nodes[l]`` nodes (level 0 has one, the root). A node at level
``l`` is the set of items sharing a code prefix of length ``l``; its children are the
codes that continue it. The last level's "child" is an item id (a leaf).

Two layouts of the same transitions:

* **dense**: ``next_node[l]`` is ``LongTensor [n_nodes[l], codebook_size[l]]`` with
  ``-1`` where no item continues. Children of a node = one row gather.
* **csr**: per level, ``offsets[l] [n_nodes[l] + 1]`` and, sorted by node then code,
  ``child_code[l]`` and ``child_next[l]`` (one entry per edge). Children of a node are
  read as a fixed-width window of ``max_fanout[l]`` edges starting at its offset,
  masked past its own count: still one gather, static shapes, memory linear in edges.

``children(level, nodes)`` answers both layouts the same way: ``next [N, F]`` (``-1``
for no child) and the children's codes (``None`` for a dense level, where column ``c``
is code ``c``), with ``F`` the codebook size (dense) or the level's largest fan-out
(csr). Transition tables hold int32 (item ids and node ids stay below 2**31). The layout is chosen per level (``auto``): dense where
nodes use most of the codebook and the table is small (the top levels), csr below
(as STATIC does). See docs/decoding.md for a drawing.
"""

from __future__ import annotations

import torch

from genrec.tokenizers.item_codes import ItemCodes

DENSE_LEVEL_LIMIT = 2**24  # entries of one level's dense table (128 MB of int64) that auto accepts


class CodeTrie:
    def __init__(self, codes: torch.Tensor, codebook_sizes: list[int], layout: str = "auto"):
        codes = torch.as_tensor(codes, dtype=torch.long).cpu()
        if codes.ndim != 2 or len(codes) == 0:
            raise ValueError("codes must be a non-empty [n_items, n_levels] table")
        self.n_items, self.n_levels = codes.shape
        self.codebook_sizes = [int(s) for s in codebook_sizes]
        node = torch.zeros(self.n_items, dtype=torch.long)  # each item's node at the current level
        self.n_nodes = [1]
        edges = []  # per level: (parent node, code, child)
        for level in range(self.n_levels):
            pair = node * self.codebook_sizes[level] + codes[:, level]
            unique_pairs, child = torch.unique(pair, return_inverse=True)  # sorted by (node, code)
            if level == self.n_levels - 1:
                if len(unique_pairs) != self.n_items:
                    raise ValueError("two items share a full code; the trie needs unique codes")
                leaf_item = torch.empty(self.n_items, dtype=torch.long)
                leaf_item[child] = torch.arange(self.n_items)
                edges.append((unique_pairs // self.codebook_sizes[level], unique_pairs % self.codebook_sizes[level],
                              leaf_item))
            else:
                edges.append((unique_pairs // self.codebook_sizes[level], unique_pairs % self.codebook_sizes[level],
                              torch.arange(len(unique_pairs))))
                self.n_nodes.append(len(unique_pairs))
            node = child
        if layout not in ("auto", "dense", "csr"):
            raise ValueError(f"layout must be auto, dense or csr, got {layout!r}")
        self.layouts: list[str] = []
        self.next_node, self.offsets, self.child_code, self.child_next, self.max_fanout = [], [], [], [], []
        for level, (parent, code, child) in enumerate(edges):
            n, size = self.n_nodes[level], self.codebook_sizes[level]
            counts = torch.bincount(parent, minlength=n)
            self.max_fanout.append(int(counts.max()))
            kind = layout if layout != "auto" else self._auto_layout(n, size, self.max_fanout[-1])
            self.layouts.append(kind)
            if kind == "dense":
                table = torch.full((n, size), -1, dtype=torch.int32)  # item ids < 2**31
                table[parent, code] = child.int()
                self.next_node.append(table)
                self.offsets.append(None), self.child_code.append(None), self.child_next.append(None)
            else:
                offsets = torch.zeros(n + 1, dtype=torch.long)
                offsets[1:] = torch.cumsum(counts, 0)
                self.next_node.append(None)
                self.offsets.append(offsets), self.child_code.append(code), self.child_next.append(child.int())

    @staticmethod
    def _auto_layout(n_nodes: int, size: int, fanout: int) -> str:
        """Dense where nodes use most of the codebook (same width, no offset arithmetic) and the
        table is small; csr elsewhere (narrower windows, memory linear in the edges)."""
        return "dense" if 2 * fanout >= size and n_nodes * size <= DENSE_LEVEL_LIMIT else "csr"

    @property
    def layout(self) -> str:
        return self.layouts[0] if len(set(self.layouts)) == 1 else "mixed"

    @classmethod
    def from_item_codes(cls, item_codes: ItemCodes, layout: str = "auto") -> CodeTrie:
        return cls(item_codes.codes, item_codes.codebook_sizes, layout)

    def to(self, device) -> CodeTrie:
        for name in ("next_node", "offsets", "child_code", "child_next"):
            setattr(self, name, [None if t is None else t.to(device) for t in getattr(self, name)])
        return self

    def width(self, level: int) -> int:
        return self.codebook_sizes[level] if self.layouts[level] == "dense" else self.max_fanout[level]

    def children(self, level: int, nodes: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Children of ``nodes`` (which must be ``>= 0``) as ``(codes, next)``, both ``[N, F]``:
        the code of each child and its node at the next level (its item at the last level),
        ``-1`` where there is no child. For a dense level ``codes`` is ``None``: the child in
        column ``c`` has code ``c``, so callers can slice per-code values instead of gathering."""
        if self.layouts[level] == "dense":
            return None, self.next_node[level][nodes]
        start = self.offsets[level][nodes]
        count = self.offsets[level][nodes + 1] - start
        window = torch.arange(self.max_fanout[level], device=nodes.device)
        edge = (start[:, None] + window).clamp(max=len(self.child_code[level]) - 1)
        present = window < count[:, None]
        codes = torch.where(present, self.child_code[level][edge], -1)
        return codes, torch.where(present, self.child_next[level][edge], -1)

    def memory_bytes(self) -> int:
        tensors = self.next_node + self.offsets + self.child_code + self.child_next
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)
