"""TIGER's cold-start retrieval rule (Rajput et al., NeurIPS 2023, §4.3): prefix matching.

A model trained without the held-out items (``data.cold_start_share``) decodes over the codes of
the items it trained on (the *warm* trie). A held-out item whose code shares the first
``prefix_levels`` codes (``evaluation.cold_start_prefix_levels``) with a retrieved item is then
retrieved too. That prefix is every level but the last by default, which with TIGER's extra level
is the semantic part of the code.
``epsilon`` bounds the share of held-out items in the top-K: at most ``floor(epsilon * K)`` of
them (TIGER: "a hyperparameter ε which specifies the maximum proportion of cold-start items in
the retrieved list").

The paper does not say where a matched item goes in the list. Ours, named: right after the
retrieved item it matches, several matches of one prefix in id order, the list cut back to K.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import torch

from genrec.decoding import CodeTrie
from genrec.errors import ConfigError

RULES = ("direct", "prefix")  # direct: rank every item by its own code; prefix: TIGER's rule


class PrefixMatchRule:
    def __init__(self, codes: torch.Tensor, codebook_sizes: list[int], cold_items: np.ndarray, epsilon: float = 0.1,
                 prefix_levels: int | None = None):
        if not 0.0 <= epsilon <= 1.0:
            raise ConfigError(f"evaluation.cold_start_epsilon={epsilon}: must be between 0 and 1 (TIGER: 0.1)")
        codes = torch.as_tensor(codes, dtype=torch.long)
        self.prefix_levels = prefix_levels or max(codes.shape[1] - 1, 1)
        self.epsilon = epsilon
        self.n_items = len(codes)
        cold = np.zeros(len(codes), dtype=bool)
        cold[np.asarray(cold_items, dtype=np.int64)] = True
        self.warm_items = torch.from_numpy(np.flatnonzero(~cold))
        self.warm_trie = CodeTrie(codes[self.warm_items], codebook_sizes)  # leaves are warm positions
        self.cold_by_prefix: dict[tuple, list[int]] = defaultdict(list)
        for item in np.flatnonzero(cold):
            self.cold_by_prefix[tuple(codes[item, :self.prefix_levels].tolist())].append(int(item))
        self.prefixes = [tuple(row) for row in codes[:, :self.prefix_levels].tolist()]

    def merge(self, warm_positions: torch.Tensor, top_k: int) -> torch.Tensor:
        """``[U, K]`` item ids: the warm search's results (positions in the warm trie, -1 for none)
        with held-out items of the same prefix inserted, at most ``floor(epsilon * K)`` per user."""
        allowed = math.floor(self.epsilon * top_k)
        out = torch.full((len(warm_positions), top_k), -1, dtype=torch.long)
        for row, positions in enumerate(warm_positions.tolist()):
            ranked, cold_used = [], 0
            for position in positions:
                if position < 0 or len(ranked) >= top_k:
                    break
                item = int(self.warm_items[position])
                ranked.append(item)
                for cold in self.cold_by_prefix.get(self.prefixes[item], ()):
                    if cold_used < allowed and len(ranked) < top_k and cold not in ranked:
                        ranked.append(cold)
                        cold_used += 1
            out[row, :len(ranked)] = torch.tensor(ranked[:top_k], dtype=torch.long)
        return out.to(warm_positions.device)

    def warm_exclusions(self, exclude: torch.Tensor | None) -> torch.Tensor | None:
        """Item ids to exclude (``[U, n]``, -1 padded) as positions in the warm trie."""
        if exclude is None:
            return None
        lookup = torch.full((self.n_items,), -1, dtype=torch.long, device=exclude.device)  # item -> warm position
        lookup[self.warm_items.to(exclude.device)] = torch.arange(len(self.warm_items), device=exclude.device)
        return torch.where(exclude >= 0, lookup[exclude.long().clamp(min=0)], -1)


def cold_start_rule(cfg, item_codes, dataset) -> PrefixMatchRule | None:
    """The configured rule for a dataset with held-out items (None: rank every item directly)."""
    rule = cfg.evaluation.cold_start_rule
    if rule not in RULES:
        raise ConfigError(f"evaluation.cold_start_rule={rule!r}: must be one of {list(RULES)}")
    if dataset.cold_items is None or rule == "direct":
        return None
    levels = cfg.evaluation.cold_start_prefix_levels
    if levels is not None and not 1 <= levels <= item_codes.n_levels:
        raise ConfigError(f"evaluation.cold_start_prefix_levels={levels}: must be 1..{item_codes.n_levels} (the codes' "
                          "levels) or null")
    return PrefixMatchRule(item_codes.codes, item_codes.codebook_sizes, dataset.cold_items,
                           cfg.evaluation.cold_start_epsilon, levels)
