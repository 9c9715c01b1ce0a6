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
    cross_k_t: list[torch.Tensor]  # per layer [users, heads, d_kv, T], contiguous (keys transposed once)
    cross_v: list[torch.Tensor]  # per layer [users, heads, T, d_kv], contiguous
    cross_bias: torch.Tensor  # [users, 1, 1, T]: 0 or -inf for padding
    self_k: list[torch.Tensor]  # per layer [users * beams, t, heads * d_kv], contiguous
    self_v: list[torch.Tensor]
    length: int  # decoder tokens seen so far


def length_groups(mask: torch.Tensor, group_size: int) -> list[tuple[torch.Tensor, slice]]:
    """Users sorted by input length, in groups of ``group_size``, each with the column span
    that holds all of its group's tokens: encoding a group over that span alone skips the
    padding every shorter input would otherwise carry (exact for T5: padding is masked out and
    positions enter only as relative distances between real tokens)."""
    order = mask.sum(1).argsort(stable=True)
    groups = []
    for rows in order.split(group_size):
        attended = mask[rows].any(0).nonzero().flatten()
        groups.append((rows, slice(int(attended[0]), int(attended[-1]) + 1)))
    return groups


class T5BeamStepModel:
    def __init__(self, model, code_token_ids: list[torch.Tensor], encode_group_size: int = 32):
        self.model = model.eval()
        self.token_ids = [t.to(model.device) for t in code_token_ids]
        self.blocks = model.decoder.block
        self.heads = self.blocks[0].layer[0].SelfAttention.n_heads
        self.d_kv = self.blocks[0].layer[0].SelfAttention.key_value_proj_dim
        self.start_token = model.config.decoder_start_token_id
        self.scale_output = getattr(model.config, "scale_decoder_outputs", model.config.tie_word_embeddings)
        self.encode_group_size = encode_group_size

    def code_token_ids(self):
        return self.token_ids

    def batch_size(self, state: _BeamState) -> int:
        return state.users * state.beams

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # [N, t, heads * d_kv] -> [N, heads, t, d_kv]
        return x.view(x.shape[0], x.shape[1], self.heads, self.d_kv).transpose(1, 2)

    def encode(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encoder states ``[users, T, d_model]`` (zeros on padding), encoded in length groups."""
        encoder = self.model.get_encoder()
        encoded = None
        for rows, span in length_groups(mask, self.encode_group_size):
            part = encoder(input_ids=input_ids[rows, span], attention_mask=mask[rows, span]).last_hidden_state
            if encoded is None:
                encoded = part.new_zeros(*mask.shape, part.shape[-1])
            encoded[rows, span] = part
        return encoded

    @torch.no_grad()
    def start(self, batch) -> _BeamState:
        mask = batch["attention_mask"]
        encoded = self.encode(batch["input_ids"], mask)
        cross_k_t, cross_v = [], []
        for block in self.blocks:
            attention = block.layer[1].EncDecAttention
            cross_k_t.append(self._heads(attention.k(encoded)).transpose(-1, -2).contiguous())
            cross_v.append(self._heads(attention.v(encoded)).contiguous())
        bias = torch.zeros(mask.shape, dtype=encoded.dtype, device=mask.device)
        bias = bias.masked_fill(mask == 0, torch.finfo(encoded.dtype).min)[:, None, None, :]
        empty = encoded.new_zeros(mask.shape[0], 0, self.heads * self.d_kv)
        return _BeamState(mask.shape[0], 1, cross_k_t, cross_v, bias,
                          [empty] * len(self.blocks), [empty] * len(self.blocks), 0)

    @torch.no_grad()
    def step(self, state: _BeamState, tokens):
        rows = state.users * state.beams
        if tokens is None:
            tokens = torch.full((rows,), self.start_token, dtype=torch.long, device=state.cross_bias.device)
        x = self.model.decoder.embed_tokens(tokens[:, None])  # [rows, 1, d]
        first = self.blocks[0].layer[0].SelfAttention
        position_bias = first.compute_bias(1, state.length + 1, device=x.device, past_seen_tokens=state.length)
        position_bias = position_bias[0, :, 0].T[None]  # [1, t, heads]
        t = state.length + 1
        for i, block in enumerate(self.blocks):
            # Self-attention of one query over t <= n_levels cached steps, as broadcast products over
            # [rows, t, heads, d_kv] (contiguous; no per-step transposed copies).
            attention = block.layer[0].SelfAttention
            h = block.layer[0].layer_norm(x)
            state.self_k[i] = torch.cat([state.self_k[i], attention.k(h)], 1)
            state.self_v[i] = torch.cat([state.self_v[i], attention.v(h)], 1)
            q = attention.q(h).view(rows, 1, self.heads, self.d_kv)
            scores = (q * state.self_k[i].view(rows, t, self.heads, self.d_kv)).sum(-1) + position_bias
            weights = F.softmax(scores.float(), dim=1).type_as(q)  # over the t steps
            out = (weights[..., None] * state.self_v[i].view(rows, t, self.heads, self.d_kv)).sum(1)
            x = x + attention.o(out.reshape(rows, 1, -1))

            cross = block.layer[1].EncDecAttention
            h = block.layer[1].layer_norm(x)
            q = cross.q(h).view(state.users, state.beams, self.heads, self.d_kv).transpose(1, 2)
            scores = q @ state.cross_k_t[i] + state.cross_bias  # [users, heads, beams, T]
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
        state.self_k = [k.index_select(0, rows) for k in state.self_k]
        state.self_v = [v.index_select(0, rows) for v in state.self_v]
        state.beams = beams
        return state
