"""A beam-aware decoder step for Hugging Face T5 models, sharing encoder memory across beams.

``T5StepModel`` (hf_adapters.py) drives T5 through its own forward: every beam row
carries a full copy of its user's cross-attention keys and values (``users x beams x
encoder length``), which dominates the memory traffic of a step. This step model runs
the same T5 decoder layers with the same weights, but keeps the cross-attention keys
and values once per user and lets the ``beams`` queries of a user attend to them
together (``[users, heads, beams, encoder length]``); the self-attention cache is per
beam and is reordered. The arithmetic is T5's: RMS layer norms, unscaled dot-product
attention with the decoder's relative position bias, the feed-forward block, the
final norm, the optional output scaling and the LM head. Tests check it against
T5's own forward. Inference only (dropout is off in eval mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class _BeamState:
    users: int
    beams: int
    cross_k: list[torch.Tensor]  # per layer [users, heads, T, d_kv]
    cross_v: list[torch.Tensor]
    cross_bias: torch.Tensor  # [users, 1, 1, T]: 0 or -inf for padding
    self_k: list[torch.Tensor]  # per layer [users * beams, heads, t, d_kv]
    self_v: list[torch.Tensor]
    length: int  # decoder tokens seen so far


class T5BeamStepModel:
    def __init__(self, model, code_token_ids: list[torch.Tensor]):
        self.model = model.eval()
        self.token_ids = [t.to(model.device) for t in code_token_ids]
        self.blocks = model.decoder.block
        self.heads = self.blocks[0].layer[0].SelfAttention.n_heads
        self.d_kv = self.blocks[0].layer[0].SelfAttention.key_value_proj_dim
        self.start_token = model.config.decoder_start_token_id
        self.scale_output = getattr(model.config, "scale_decoder_outputs", model.config.tie_word_embeddings)

    def code_token_ids(self):
        return self.token_ids

    def batch_size(self, state: _BeamState) -> int:
        return state.users * state.beams

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [N, t, inner] -> [N, heads, t, d_kv]
        return x.view(x.shape[0], x.shape[1], self.heads, self.d_kv).transpose(1, 2)

    @torch.no_grad()
    def start(self, batch) -> _BeamState:
        mask = batch["attention_mask"]
        encoded = self.model.get_encoder()(input_ids=batch["input_ids"], attention_mask=mask).last_hidden_state
        cross_k, cross_v = [], []
        for block in self.blocks:
            attention = block.layer[1].EncDecAttention
            cross_k.append(self._split(attention.k(encoded)))
            cross_v.append(self._split(attention.v(encoded)))
        bias = torch.zeros(mask.shape, dtype=encoded.dtype, device=mask.device)
        bias = bias.masked_fill(mask == 0, torch.finfo(encoded.dtype).min)[:, None, None, :]
        empty = encoded.new_zeros(mask.shape[0], self.heads, 0, self.d_kv)
        return _BeamState(mask.shape[0], 1, cross_k, cross_v, bias,
                          [empty] * len(self.blocks), [empty] * len(self.blocks), 0)

    @torch.no_grad()
    def step(self, state: _BeamState, tokens):
        rows = state.users * state.beams
        if tokens is None:
            tokens = torch.full((rows,), self.start_token, dtype=torch.long, device=state.cross_bias.device)
        x = self.model.decoder.embed_tokens(tokens[:, None])  # [rows, 1, d]
        first = self.blocks[0].layer[0].SelfAttention
        position_bias = first.compute_bias(1, state.length + 1, device=x.device, past_seen_tokens=state.length)
        for i, block in enumerate(self.blocks):
            attention = block.layer[0].SelfAttention
            h = block.layer[0].layer_norm(x)
            q, k, v = self._split(attention.q(h)), self._split(attention.k(h)), self._split(attention.v(h))
            state.self_k[i] = torch.cat([state.self_k[i], k], 2)
            state.self_v[i] = torch.cat([state.self_v[i], v], 2)
            scores = q @ state.self_k[i].transpose(-1, -2) + position_bias
            out = F.softmax(scores.float(), dim=-1).type_as(q) @ state.self_v[i]
            x = x + attention.o(out.transpose(1, 2).reshape(rows, 1, -1))

            cross = block.layer[1].EncDecAttention
            h = block.layer[1].layer_norm(x)
            q = self._split(cross.q(h)).view(state.users, state.beams, self.heads, self.d_kv).transpose(1, 2)
            scores = q @ state.cross_k[i].transpose(-1, -2) + state.cross_bias  # [users, heads, beams, T]
            out = F.softmax(scores.float(), dim=-1).type_as(q) @ state.cross_v[i]  # [users, heads, beams, d_kv]
            x = x + cross.o(out.permute(0, 2, 1, 3).reshape(rows, 1, -1))

            ff = block.layer[2]
            x = x + ff.DenseReluDense(ff.layer_norm(x))
        x = self.model.decoder.final_layer_norm(x)
        if self.scale_output:
            x = x * (self.model.model_dim ** -0.5)
        logits = self.model.lm_head(x)[:, -1]
        state.length += 1
        return F.log_softmax(logits.float(), dim=-1), state

    def reorder(self, state: _BeamState, rows: torch.Tensor) -> _BeamState:
        """Rows are user-major (``user * beams + beam``) and never change user, so only the
        per-beam self-attention cache moves; cross-attention memory stays once per user."""
        beams = len(rows) // state.users
        state.self_k = [k[rows] for k in state.self_k]
        state.self_v = [v[rows] for v in state.self_v]
        state.beams = beams
        return state
