"""Step-protocol adapters for Hugging Face models: encoder-decoder (T5) and decoder-only.

Both keep a real KV cache and reorder it (``Cache.reorder_cache``) when beams are
chosen; ``use_cache=False`` recomputes every step from the whole token history
instead (slow; it exists so tests can prove the cache changes nothing).

Batches are dicts with ``input_ids`` and ``attention_mask`` (``[users, T]``); for a
decoder-only model they are the prompt, left-padded.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


def cache_keyword(model) -> str:
    """The name of ``model.forward``'s KV-cache argument, which is also its output's field:
    ``cache`` in the transformers releases that renamed it, ``past_key_values`` before (the old
    name is deprecated there and goes in transformers 5.40). A peft wrapper is looked through."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _select(cache, rows: torch.Tensor):
    if cache is not None:
        cache.reorder_cache(rows)
    return cache


@dataclass
class _State:
    rows: int
    mask: torch.Tensor
    cache: object = None
    tokens: torch.Tensor | None = None  # decoder tokens so far [rows, t] (used without cache)
    extra: dict = field(default_factory=dict)


class T5StepModel:
    """Encoder-decoder: the encoder runs once per user; the decoder steps over code tokens."""

    def __init__(self, model, code_token_ids: list[torch.Tensor], use_cache: bool = True):
        self.model = model.eval()
        self.token_ids = [t.to(model.device) for t in code_token_ids]
        self.use_cache = use_cache
        self.cache_key = cache_keyword(model)
        self.start_token = model.config.decoder_start_token_id

    def code_token_ids(self):
        return self.token_ids

    def batch_size(self, state: _State) -> int:
        return state.rows

    @torch.no_grad()
    def start(self, batch) -> _State:
        encoded = self.model.get_encoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        rows = batch["input_ids"].shape[0]
        start = torch.full((rows, 1), self.start_token, dtype=torch.long, device=batch["input_ids"].device)
        return _State(rows, batch["attention_mask"], None, start, {"encoder": encoded.last_hidden_state})

    @torch.no_grad()
    def step(self, state: _State, tokens):
        if tokens is not None:
            state.tokens = torch.cat([state.tokens, tokens[:, None]], 1)
        decoder_input = state.tokens[:, -1:] if (self.use_cache and state.cache is not None) else state.tokens
        out = self.model(
            encoder_outputs=(state.extra["encoder"],), attention_mask=state.mask,
            decoder_input_ids=decoder_input, use_cache=self.use_cache,
            **{self.cache_key: state.cache if self.use_cache else None},
        )
        if self.use_cache:
            state.cache = getattr(out, self.cache_key)
        return F.log_softmax(out.logits[:, -1].float(), dim=-1), state

    def reorder(self, state: _State, rows: torch.Tensor) -> _State:
        """Self-attention caches follow the beams. Encoder outputs and cross-attention caches
        depend on the user only, and the decoder keeps every row inside its user's block, so
        they are copied only when the number of rows changes (the first expansion to beams)."""
        expanding = len(rows) != state.rows
        if state.cache is not None:
            state.cache.self_attention_cache.reorder_cache(rows)
            if expanding:
                state.cache.cross_attention_cache.reorder_cache(rows)
        if expanding:
            state.extra["encoder"] = state.extra["encoder"][rows]
            state.mask = state.mask[rows]
        return _State(len(rows), state.mask, state.cache, state.tokens[rows], state.extra)


class CausalLMStepModel:
    """Decoder-only LM: the prompt (history as text and/or code tokens) runs once; each level
    feeds the chosen code token. Positions follow the left-padded attention mask."""

    def __init__(self, model, code_token_ids: list[torch.Tensor], use_cache: bool = True):
        self.model = model.eval()
        self.token_ids = [t.to(model.device) for t in code_token_ids]
        self.use_cache = use_cache
        self.cache_key = cache_keyword(model)

    def code_token_ids(self):
        return self.token_ids

    def batch_size(self, state: _State) -> int:
        return state.rows

    def _forward(self, input_ids, mask, cache):
        positions = (mask.cumsum(1) - 1).clamp(min=0)[:, -input_ids.shape[1]:]
        return self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                          use_cache=self.use_cache, **{self.cache_key: cache})

    @torch.no_grad()
    def start(self, batch) -> _State:
        mask = batch["attention_mask"]
        out = self._forward(batch["input_ids"], mask, None)
        state = _State(mask.shape[0], mask, getattr(out, self.cache_key) if self.use_cache else None,
                       batch["input_ids"], {"logits": out.logits[:, -1]})
        return state

    @torch.no_grad()
    def step(self, state: _State, tokens):
        if tokens is None:  # the first code is scored from the prompt's last position
            return F.log_softmax(state.extra["logits"].float(), dim=-1), state
        state.mask = torch.cat([state.mask, state.mask.new_ones(state.rows, 1)], 1)
        state.tokens = torch.cat([state.tokens, tokens[:, None]], 1)
        if self.use_cache:
            out = self._forward(tokens[:, None], state.mask, state.cache)
            state.cache = getattr(out, self.cache_key)
        else:
            out = self._forward(state.tokens, state.mask, None)
        return F.log_softmax(out.logits[:, -1].float(), dim=-1), state

    def reorder(self, state: _State, rows: torch.Tensor) -> _State:
        extra = {"logits": state.extra["logits"][rows]}
        return _State(len(rows), state.mask[rows], _select(state.cache, rows), state.tokens[rows], extra)
