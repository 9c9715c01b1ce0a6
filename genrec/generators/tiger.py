"""TIGER (Rajput et al., NeurIPS 2023): a T5 encoder-decoder over item codes.

The encoder reads a user token and the codes of the user's last (at most 20) items;
the decoder writes the next item's codes, one level per step. The model is a
``transformers`` ``T5ForConditionalGeneration`` built from config (no download):
4 + 4 layers, d_model 128, 6 heads x 64, FFN 1024, dropout 0.1. The vocabulary is the
code tokens of the chosen ``ItemCodes`` (per-level offsets), 2,000 hashed user
buckets and two special tokens (``genrec/generators/code_vocabulary.py``).

Ranking uses the shared constrained beam search through the beam-aware T5 step
model (``genrec/decoding/t5_beams.py``), so every ranked item is a real item.
Learning rate: inverse square root with warm-up (paper: 0.01 for the first 10k steps).
Deviation, named: AdamW instead of the paper's (unstated, T5X-default) Adafactor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genrec.decoding import CodeTrie, constrained_beam_search
from genrec.decoding.t5_beams import T5BeamStepModel
from genrec.evaluation.metrics import list_ranks
from genrec.generators.base import CodeRankingModule, example_weighted_mean
from genrec.generators.code_vocabulary import EOS, PAD, CodeVocabulary
from genrec.generators.dropout import use_fast_dropout
from genrec.tokenizers.item_codes import ItemCodes


@dataclass
class TIGERConfig:
    model: str = "tiger"
    d_model: int = 128
    d_kv: int = 64
    num_heads: int = 6
    d_ff: int = 1024
    num_layers: int = 4
    num_decoder_layers: int = 4
    dropout: float = 0.1
    user_buckets: int = 2000
    lr: float = 0.01
    warmup_steps: int = 10000
    weight_decay: float = 0.0
    beam_size: int = 20  # >= the largest K of evaluation.ks
    train_form: str = "prefixes"  # every (history, next item) prefix of the training part


def inverse_sqrt(warmup: int):
    """Multiplier of the base learning rate: 1 up to ``warmup`` steps, then sqrt(warmup / step)."""
    return lambda step: (max(warmup, 1) / max(step + 1, warmup, 1)) ** 0.5


class TIGER(CodeRankingModule):
    def __init__(self, item_codes: ItemCodes, cfg: TIGERConfig, ks=(1, 5, 10, 20), exclude_seen: bool = False):
        super().__init__(item_codes, ks)
        self.exclude_seen = exclude_seen  # evaluation.exclude_seen: never rank items the user already has
        from transformers import T5Config, T5ForConditionalGeneration

        if max(ks) > cfg.beam_size:
            raise ValueError(f"generator.beam_size ({cfg.beam_size}) must be >= the largest K ({max(ks)})")
        self.cfg = cfg
        self.vocab = CodeVocabulary(item_codes, cfg.user_buckets)
        config = T5Config(
            vocab_size=self.vocab.size, d_model=cfg.d_model, d_kv=cfg.d_kv, d_ff=cfg.d_ff,
            num_layers=cfg.num_layers, num_decoder_layers=cfg.num_decoder_layers, num_heads=cfg.num_heads,
            dropout_rate=cfg.dropout, pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD,
        )
        self.t5 = use_fast_dropout(T5ForConditionalGeneration(config))
        self.trie = CodeTrie.from_item_codes(item_codes)
        self.cold_start_rule = None  # genrec/evaluation/cold_start.py, set by from_config
        self.save_hyperparameters({"config": vars(cfg).copy(), "item_codes_fingerprint": item_codes.fingerprint})

    def batch_losses(self, batch):
        loss, _ = self.code_loss(batch)
        return {"loss": loss}

    def code_loss(self, batch, hidden_states: bool = False):
        """Cross-entropy of the target's code tokens under teacher forcing (averaged over tokens,
        examples weighted by ``batch["weight"]`` when present), and T5's outputs (with every
        layer's hidden states when ``hidden_states``)."""
        input_ids, attention = self.vocab.history_tokens(batch["user"], batch["history"])
        labels = self.vocab.target_tokens(batch["target"])
        decoder_input = torch.cat([torch.full_like(labels[:, :1], PAD), labels[:, :-1]], 1)  # teacher forcing
        outputs = self.t5(input_ids=input_ids, attention_mask=attention, decoder_input_ids=decoder_input,
                          output_hidden_states=hidden_states)
        token_losses = F.cross_entropy(outputs.logits.flatten(0, 1).float(), labels.flatten(), reduction="none")
        return example_weighted_mean(token_losses.view_as(labels), batch.get("weight")), outputs

    @torch.no_grad()
    def recommend(self, users: torch.Tensor, history: torch.Tensor, top_k: int, exclude: torch.Tensor | None = None):
        """Top-``top_k`` items (and summed log-prob scores) per user by constrained beam search
        (beam ``max(generator.beam_size, top_k)``), never one of ``exclude`` (item ids, -1 padded)."""
        input_ids, attention = self.vocab.history_tokens(users, history)
        group = 512 if self.device.type == "cuda" else 32  # users encoded at once (length-grouped)
        step_model = T5BeamStepModel(self.t5, [t.to(self.device) for t in self.vocab.level_token_ids], group)
        rule = self.cold_start_rule
        trie = (rule.warm_trie if rule is not None else self.trie).to(self.device)
        if rule is not None:  # TIGER's cold start: search the trained items, then add held-out ones by prefix
            exclude = rule.warm_exclusions(exclude)
        result = constrained_beam_search(step_model, {"input_ids": input_ids, "attention_mask": attention},
                                         trie, max(self.cfg.beam_size, top_k), top_k, exclude=exclude)
        if rule is not None:
            return rule.merge(result.items, top_k), result.scores
        return result.items, result.scores

    def target_ranks(self, batch):
        exclude = batch.get("seen") if self.exclude_seen else None
        items, _ = self.recommend(batch["user"], batch["history"], max(self.ks), exclude)
        return list_ranks(items, batch["target"])

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, inverse_sqrt(self.cfg.warmup_steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    @classmethod
    def from_config(cls, cfg, datamodule) -> TIGER:
        from omegaconf import OmegaConf

        from genrec.evaluation.cold_start import cold_start_rule
        from genrec.tokenizers.pipeline import ensure_item_codes

        item_codes = ensure_item_codes(cfg, datamodule.dataset)
        model = cls(item_codes, OmegaConf.to_object(cfg.generator), ks=tuple(cfg.evaluation.ks),
                    exclude_seen=cfg.evaluation.exclude_seen)
        model.cold_start_rule = cold_start_rule(cfg, item_codes, datamodule.dataset)
        return model
