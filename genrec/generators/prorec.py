"""PRORec stage 2 (Xiao et al., arXiv 2502.06269; UNGER in later versions): TIGER over the
unified codes plus in-modality knowledge distillation.

Quantisation drops part of what the integrated (pre-quantisation) embedding knows.
The distillation term gives it back to the generator: a linear projection of the
generator's representation of the target item is pulled towards that item's
integrated embedding (``tokenizers/<name>/vectors.safetensors``, written by the
tokenizer stage):

    loss = TIGER's code cross-entropy + distill_weight * distill(project(h), E_integrated[target])

Choices the paper leaves open (named in docs/prorec.md): ``h`` is the mean over the
target's decoder positions of the last decoder layer (``distill_from=decoder``; or the
mean of the encoder's states over the history, ``encoder``); the target vectors are
standardised per dimension; ``distill_loss`` is ``mse`` or an in-batch ``infonce``.
With ``distill_weight=0`` the loss is TIGER's exactly. Ranking is TIGER's: the shared
constrained decoder, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genrec.features.alignment import info_nce
from genrec.generators.base import example_weighted_mean
from genrec.generators.tiger import TIGER, TIGERConfig
from genrec.tokenizers.base import standardize
from genrec.tokenizers.item_codes import ItemCodes

DISTILL_LOSSES = ("mse", "infonce")
DISTILL_FROM = ("decoder", "encoder")


@dataclass
class PRORecConfig(TIGERConfig):
    model: str = "prorec"
    distill_weight: float = 0.1  # mu; 0 = TIGER's loss
    distill_loss: str = "mse"  # mse | infonce
    distill_temperature: float = 0.07  # for infonce
    distill_from: str = "decoder"  # decoder | encoder


class PRORec(TIGER):
    def __init__(self, item_codes: ItemCodes, cfg: PRORecConfig, item_vectors: torch.Tensor, ks=(1, 5, 10, 20),
                 exclude_seen: bool = False):
        if cfg.distill_loss not in DISTILL_LOSSES:
            raise ValueError(f"generator.distill_loss must be one of {DISTILL_LOSSES}, got {cfg.distill_loss!r}")
        if cfg.distill_from not in DISTILL_FROM:
            raise ValueError(f"generator.distill_from must be one of {DISTILL_FROM}, got {cfg.distill_from!r}")
        if len(item_vectors) != item_codes.n_items:
            raise ValueError(f"{len(item_vectors)} item vectors for {item_codes.n_items} items")
        super().__init__(item_codes, cfg, ks, exclude_seen)
        self.register_buffer("item_vectors", standardize(item_vectors.float()), persistent=False)
        self.distill_head = nn.Linear(cfg.d_model, item_vectors.shape[1])

    def target_representation(self, outputs, batch) -> torch.Tensor:
        if self.cfg.distill_from == "decoder":
            return outputs.decoder_hidden_states[-1].mean(1)
        _, attention = self.vocab.history_tokens(batch["user"], batch["history"])
        mask = attention.unsqueeze(-1).to(outputs.encoder_last_hidden_state.dtype)
        return (outputs.encoder_last_hidden_state * mask).sum(1) / mask.sum(1)

    def distillation_loss(self, outputs, batch) -> torch.Tensor:
        predicted = self.distill_head(self.target_representation(outputs, batch)).float()
        target = self.item_vectors[batch["target"]]
        if self.cfg.distill_loss == "mse":
            return example_weighted_mean((predicted - target).square(), batch.get("weight"))
        # in-batch negatives: weight-0 padding rows of the fast path still act as negatives
        return info_nce(predicted, target, self.cfg.distill_temperature)

    def batch_losses(self, batch):
        distill = self.cfg.distill_weight > 0
        code, outputs = self.code_loss(batch, hidden_states=distill and self.cfg.distill_from == "decoder")
        if not distill:
            return {"loss": code, "code_loss": code}
        term = self.distillation_loss(outputs, batch)
        return {"loss": code + self.cfg.distill_weight * term, "code_loss": code, "distill_loss": term}

    @classmethod
    def from_config(cls, cfg, datamodule) -> PRORec:
        from omegaconf import OmegaConf

        from genrec.evaluation.cold_start import cold_start_rule
        from genrec.tokenizers.pipeline import ensure_item_codes, load_tokenizer_vectors

        item_codes = ensure_item_codes(cfg, datamodule.dataset)
        vectors = load_tokenizer_vectors(cfg, item_codes)
        model = cls(item_codes, OmegaConf.to_object(cfg.generator), vectors, ks=tuple(cfg.evaluation.ks),
                    exclude_seen=cfg.evaluation.exclude_seen)
        model.cold_start_rule = cold_start_rule(cfg, item_codes, datamodule.dataset)  # TIGER's ranking, TIGER's rule
        return model
