"""Constrained beam search over item codes: the one decoder every generator shares.

The model side is the step protocol (``genrec/decoding/protocol.py``): ``start``,
``step``, ``reorder`` and the token id of every (level, code). The decoder owns the
trie, the beams, the masks, the scores and the top-K. Each level is, for all users
and beams at once: one ``step`` of the model, one gather of the trie's children, one
gather of their log-probs, and one top-k over ``beams x children`` per user. No Python
loop over users or beams, no host round-trip inside the loop.

Scores are sums of log-probabilities of the chosen code tokens. Only paths in the
trie can be chosen, so every returned item is a catalogue item and, codes being
unique, no item appears twice. A live beam with no valid continuation means the
trie is inconsistent: the search raises instead of decoding unconstrained.

``exclude`` (item ids per user, ``-1`` padded) removes those items at the last level,
where a beam becomes an item: the SASRec protocol of never ranking items the user already
has, for generative models. Earlier levels are chosen as before, so a prefix whose items
are all excluded can leave fewer than ``top_k`` results (padded with ``-1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genrec.decoding.trie import CodeTrie


class DecodingError(RuntimeError):
    """The constrained search reached a state a correct trie cannot produce."""


@dataclass
class BeamSearchResult:
    items: torch.Tensor  # [U, K] item ids, -1 where fewer than K items exist
    scores: torch.Tensor  # [U, K] summed log-probs, -inf where items is -1
    codes: torch.Tensor  # [U, K, L] the codes of the returned items
    stats: dict  # health counters


def constrained_beam_search(
    model, batch, trie: CodeTrie, beam_size: int, top_k: int | None = None, count_unconstrained: bool = False,
    exclude: torch.Tensor | None = None,
) -> BeamSearchResult:
    """Top-``top_k`` items per user (``top_k <= beam_size``) by beam search in log space.

    ``model.code_token_ids()[l]`` maps level-``l`` codes to the model's vocabulary. With
    ``count_unconstrained`` the stats also report the share of beams an unconstrained
    search would have spent on prefixes no item has (a diagnostic; costs one extra top-k).
    """
    top_k = top_k or beam_size
    if top_k > beam_size:
        raise ValueError(f"top_k ({top_k}) must not exceed beam_size ({beam_size})")
    token_ids = model.code_token_ids()
    excluded = exclude.long().sort(1).values.contiguous() if exclude is not None and exclude.shape[1] else None
    state = model.start(batch)
    users = int(model.batch_size(state))
    device = token_ids[0].device
    node = torch.zeros(users, 1, dtype=torch.long, device=device)
    score = torch.zeros(users, 1, device=device)
    codes = torch.zeros(users, 1, 0, dtype=torch.long, device=device)
    tokens = None
    invalid_unconstrained = 0.0
    for level in range(trie.n_levels):
        log_probs, state = model.step(state, tokens)  # [users * beams, vocab]
        beams = node.shape[1]
        live = torch.isfinite(score.reshape(-1))
        child_codes, child_next = trie.children(level, node.reshape(-1).clamp(min=0))  # [users * beams, F]
        width = child_next.shape[1]
        valid = child_next >= 0
        if (live & ~valid.any(1)).any():
            raise DecodingError(f"a live beam has no valid continuation at level {level}: the trie is inconsistent")
        level_log_probs = log_probs.index_select(1, token_ids[level]).float()  # [users * beams, codebook]
        if child_codes is not None:  # csr: the window's codes; dense: column c is code c
            level_log_probs = level_log_probs.gather(1, child_codes.clamp(min=0))
        candidate = (score.reshape(-1, 1) + level_log_probs).masked_fill_(~valid, float("-inf"))
        if excluded is not None and level == trie.n_levels - 1:
            candidate.view(users, -1).masked_fill_(_excluded(child_next.view(users, -1), excluded), float("-inf"))
        if count_unconstrained:
            invalid_unconstrained += _unconstrained_invalid_share(
                log_probs, token_ids[level], score, child_codes, valid, beam_size, users, beams)
        k = min(beam_size, beams * width)
        score, pick = candidate.view(users, beams * width).topk(k, dim=1)  # sorted, best first
        parent = pick // width
        node = child_next.view(users, beams * width).gather(1, pick).long()
        chosen = pick % width if child_codes is None else child_codes.view(users, beams * width).gather(1, pick)
        node = torch.where(torch.isfinite(score), node, torch.full_like(node, -1))
        codes = torch.cat([codes.gather(1, parent[..., None].expand(-1, -1, codes.shape[2])), chosen[..., None]], 2)
        if level + 1 < trie.n_levels:  # the last level's choice needs no further model step
            rows = (torch.arange(users, device=device)[:, None] * beams + parent).reshape(-1)
            state = model.reorder(state, rows)
            tokens = token_ids[level][chosen.clamp(min=0)].reshape(-1)
    codes = torch.where((node >= 0)[..., None], codes, -1)  # dead beams (tiny catalogues) carry no code
    items = node[:, :top_k]
    scores = score[:, :top_k]
    if items.shape[1] < top_k:  # a catalogue smaller than K
        pad = top_k - items.shape[1]
        items = torch.cat([items, items.new_full((users, pad), -1)], 1)
        scores = torch.cat([scores, scores.new_full((users, pad), float("-inf"))], 1)
        codes = torch.cat([codes, codes.new_full((users, pad, codes.shape[2]), -1)], 1)
    return BeamSearchResult(items, scores, codes[:, :top_k], {
        "levels": trie.n_levels,
        "unconstrained_invalid_beam_share": invalid_unconstrained / trie.n_levels if count_unconstrained else None,
    })


def _excluded(items: torch.Tensor, excluded: torch.Tensor) -> torch.Tensor:
    """``[users, C]`` True where ``items`` (item ids, -1 for none) is among the user's sorted ``excluded`` ids."""
    items = items.long().contiguous()
    position = torch.searchsorted(excluded, items).clamp(max=excluded.shape[1] - 1)
    return (excluded.gather(1, position) == items) & (items >= 0)


def _unconstrained_invalid_share(log_probs, level_tokens, score, child_codes, valid, beam_size, users, beams) -> float:
    """Share of the beams a search over all of this level's codes would keep that no item continues
    (a per-level diagnostic of what the constraint prevents)."""
    per_code = score.reshape(-1, 1) + log_probs[:, level_tokens].float()  # [users*beams, V]
    n_codes = per_code.shape[1]
    if child_codes is None:  # a dense level: valid is already per code
        dense_valid = valid
    else:
        dense_valid = torch.zeros(per_code.shape[0], n_codes + 1, dtype=torch.bool, device=per_code.device)
        dense_valid.scatter_(1, torch.where(valid, child_codes, n_codes), True)  # absent children -> spare column
        dense_valid = dense_valid[:, :n_codes]
    k = min(beam_size, beams * n_codes)
    _, pick = per_code.view(users, beams * n_codes).topk(k, dim=1)
    ok = dense_valid.reshape(users, beams * n_codes).gather(1, pick)
    return float((~ok).float().mean())
