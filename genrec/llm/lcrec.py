"""LC-Rec (Zheng et al., ICDE 2024): an LLM tuned on sequential recommendation plus explicit
index-language alignment tasks (item2index, index2item, fusionseqrec) over RQ-VAE codes.

LC-Rec is the shared base of the LLM generators, so it adds nothing to ``LLMRecommender``
beyond its choices, which are ``LLMConfig``'s defaults: LC-Rec's templates
(``configs/prompts/lcrec.yaml``), the four tasks that need no external LLM, lr 5e-5, weight
decay 0.01, cosine schedule with 1% warm-up, beam 20, the last 20 items as history.

Deviations, named (docs/llm.md): backbone SmolLM2-135M or Gemma-3-270M offline (paper:
LLaMA-7B); ``itemsearch`` and ``preferenceobtain`` left out (their texts come from GPT-3.5);
checkpoint selection on validation NDCG@10 instead of validation loss; Sinkhorn-uniform
collision handling only when the tokenizer chosen is ``rqvae_sinkhorn``.
"""

from __future__ import annotations

from dataclasses import dataclass

from genrec.llm.module import LLMConfig, LLMRecommender


@dataclass
class LCRecLLMConfig(LLMConfig):
    model: str = "lcrec"


class LCRec(LLMRecommender):
    """LC-Rec: ``LLMRecommender`` with LC-Rec's defaults."""
