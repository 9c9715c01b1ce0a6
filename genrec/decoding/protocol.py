"""The decoder's step protocol: what a generator supplies so the shared beam search
can rank items with it. The decoder never sees whether the model is a T5, a
decoder-only LLM or anything else.

    code_token_ids() -> list[LongTensor [codebook_size_l]]   token id of every (level, code)
    start(batch)     -> state                                encode the histories; one row per user
    batch_size(state) -> int                                 rows in a state
    step(state, tokens | None) -> (log_probs [rows, vocab], state)
                                                              tokens: the previous level's chosen token
                                                              per row, None at the first level
    reorder(state, rows: LongTensor [rows']) -> state        keep/duplicate rows (KV caches included)

The decoder lays rows out user by user (``row = user * beams + beam``) and a reorder only
ever maps a row to a row of the same user, so state that depends on the user alone
(encoder outputs, cross-attention caches) needs copying only when the row count changes.

Code tokens may sit anywhere in the model's vocabulary (an LLM's added tokens).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch


class StepModel(Protocol):
    def code_token_ids(self) -> list[torch.Tensor]: ...

    def start(self, batch: Any) -> Any: ...

    def batch_size(self, state: Any) -> int: ...

    def step(self, state: Any, tokens: torch.Tensor | None) -> tuple[torch.Tensor, Any]: ...

    def reorder(self, state: Any, rows: torch.Tensor) -> Any: ...
