"""STORE (Liu et al., arXiv 2409.07276): one LLM for semantic tokenization and recommendation.

The tokenizer stage (scheme ``store``, genrec/llm/store_tokenizer.py) fits codes from the
backbone's own item states and tunes the backbone on text -> token and token -> text. This
generator starts from that tuned backbone (``backbone.path: tokenizer``, checked against the
codes by fingerprint) and trains, by default, the mixture:

- ``seqrec``: token -> token, the history's codes -> the next item's codes (the main task);
- ``titles2next``: text -> token, auxiliary (our reading of "text-to-token auxiliary task"):
  the history as item titles -> the next item's codes;
- ``index2item``: token -> text, continued so the code tokens keep their meaning;

with ``task_repeats`` / ``task_caps`` as the mixing knobs. One set of weights from tokenization
to recommendation; ranking by the shared constrained decoder after seqrec template 0.

STORE's paper has no public code, templates or hyperparameters: every choice here is ours and
named in docs/store.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from genrec.llm.backbone import BackboneConfig
from genrec.llm.module import LLMConfig, LLMRecommender


@dataclass
class STOREConfig(LLMConfig):
    model: str = "store"
    backbone: BackboneConfig = field(default_factory=lambda: BackboneConfig(path="tokenizer"))
    prompts: str = "store"
    tasks: list[str] = field(default_factory=lambda: ["seqrec", "titles2next", "index2item"])
    lr: float = 1e-4


class STORE(LLMRecommender):
    """STORE: ``LLMRecommender`` over the tokenizer's tuned backbone with STORE's task mixture."""
