"""Token layout of a code-based sequence-to-sequence generator (TIGER and its kin).

    0            padding (also T5's decoder start token)
    1            end of sequence (unused by constrained decoding, kept for T5)
    2 ...        level-1 codes, then level-2 codes, ... (per-level offsets)
    ... + users  user tokens: the user id hashed into ``user_buckets`` buckets

``history_tokens`` turns left-padded item-id histories into code tokens on the fly,
so batches stay item ids and any ``ItemCodes`` can be swapped in by config.
"""

from __future__ import annotations

import torch

from genrec.tokenizers.item_codes import ItemCodes

PAD, EOS, N_SPECIAL = 0, 1, 2
KNUTH = 2654435761  # multiplicative hashing constant


class CodeVocabulary(torch.nn.Module):
    def __init__(self, item_codes: ItemCodes, user_buckets: int = 2000):
        super().__init__()
        sizes = item_codes.codebook_sizes
        self.n_levels = len(sizes)
        self.user_buckets = user_buckets
        offsets = torch.tensor([N_SPECIAL + sum(sizes[:i]) for i in range(len(sizes))])
        self.register_buffer("offsets", offsets, persistent=False)
        self.register_buffer("item_tokens", item_codes.codes + offsets, persistent=False)  # [n_items, L]
        self.user_offset = N_SPECIAL + sum(sizes)
        self.size = self.user_offset + user_buckets
        self.level_token_ids = [torch.arange(int(o), int(o) + s) for o, s in zip(offsets, sizes)]

    def user_tokens(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_offset + (users * KNUTH) % (2**32) % self.user_buckets

    def history_tokens(self, users: torch.Tensor, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded ``[B, 1 + T*L]`` input ids: padding, the user token, then each history
        item's codes, oldest first; and the attention mask (1 on the user token and codes)."""
        present = history >= 0
        tokens = self.item_tokens[history.clamp(min=0)].flatten(1)  # [B, T*L]; pads sit on the left
        n_pad = (~present).sum(1, keepdim=True) * self.n_levels  # where the user token goes
        position = torch.arange(tokens.shape[1] + 1, device=history.device)[None]
        shifted = tokens.gather(1, (position - 1).clamp(min=0).expand(len(tokens), -1))
        input_ids = torch.where(position < n_pad, PAD,
                                torch.where(position == n_pad, self.user_tokens(users)[:, None], shifted))
        return input_ids, (position >= n_pad).long()

    def target_tokens(self, items: torch.Tensor) -> torch.Tensor:
        return self.item_tokens[items]
