"""Item vectors from an LLM backbone's own hidden states (STORE's "the tokenizer is the LLM").

Each item's text (``data.text_template``) runs through the backbone; the hidden states of layer
``layer`` (``-1``: the last; ``0``: the embeddings) are pooled over the text's tokens, by ``mean``
or by the ``last`` token. No sentence encoder and no separate quantiser network: the vectors the
codes are fitted on come from the model that will read and write the codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from genrec.data.dataset import Catalog
from genrec.data.text import item_texts
from genrec.errors import ConfigError
from genrec.llm.backbone import BackboneConfig, load_backbone

POOLINGS = ("mean", "last")


@dataclass
class LLMVectorConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    layer: int = -1  # hidden_states index: -1 the last layer, 0 the input embeddings
    pooling: str = "mean"  # mean over the text's tokens | last token
    batch_size: int = 32
    max_length: int = 64  # tokens of item text read


@torch.no_grad()
def pooled_item_states(model, tokenizer, texts: list[str], layer: int = -1, pooling: str = "mean",
                       batch_size: int = 32, max_length: int = 64) -> torch.Tensor:
    """``[len(texts), hidden]`` float32: layer ``layer``'s states pooled over each text's tokens."""
    if pooling not in POOLINGS:
        raise ConfigError(f"tokenizer.llm.pooling={pooling!r}: must be one of {list(POOLINGS)}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    side, tokenizer.padding_side = tokenizer.padding_side, "right"
    out = []
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer([t or " " for t in texts[start:start + batch_size]], padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt").to(device)
            hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           output_hidden_states=True, use_cache=False).hidden_states
            if not -len(hidden) <= layer < len(hidden):
                raise ConfigError(f"tokenizer.llm.layer={layer}: the backbone has {len(hidden)} hidden-state "
                                  f"layers (-{len(hidden)}..{len(hidden) - 1})")
            states = hidden[layer].float()
            mask = batch["attention_mask"]
            if pooling == "mean":
                weights = mask.unsqueeze(-1).to(states.dtype)
                pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1)
            else:
                pooled = states[torch.arange(len(states), device=device), mask.sum(1) - 1]
            out.append(pooled.cpu())
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return torch.cat(out)


def backbone_item_vectors(cfg: LLMVectorConfig, catalog: Catalog, text_template: str) -> torch.Tensor:
    """Load ``cfg.backbone`` and pool its states over every item's text."""
    texts = item_texts(catalog, text_template)
    model, tokenizer = load_backbone(cfg.backbone, texts, setting="tokenizer.llm.backbone.path")
    if torch.cuda.is_available():
        model = model.cuda()
    return pooled_item_states(model, tokenizer, texts, cfg.layer, cfg.pooling, cfg.batch_size, cfg.max_length)
