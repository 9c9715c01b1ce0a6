"""Text -> token with a tuned LLM: an item's text in, its code out (STORE's tokenization task).

Two uses, one prompt (the ``item2index`` task's template ``template``):
- ``text_to_token_accuracy``: over catalogue items, how often the constrained search over the
  *existing* codes (the item trie) returns the item's own code first: how well the backbone has
  learnt the codes it was given;
- ``codes_for_new_items``: a new item (never in the catalogue the codes were fitted on) gets the
  best code the LLM writes for its text inside the *open* code space (every code not taken,
  ``genrec/decoding/code_space.py``), unique against existing codes and each other; with
  ``seen_prefixes_only`` its code before the last level must be one an existing item holds (an
  item whose text finds no such code with a free last level falls back to the open space). The
  item becomes recommendable by adding its row to the codes; nothing is refitted.
"""

from __future__ import annotations

import numpy as np
import torch

from genrec.decoding import CodeTrie, constrained_beam_search
from genrec.decoding.code_space import OpenCodeSpace
from genrec.decoding.hf_adapters import CausalLMStepModel
from genrec.llm.examples import encode_prompts
from genrec.llm.tasks import PromptSet


def text_to_token_prompts(prompts: PromptSet, fields: list[dict[str, str]], template: int = 0) -> list[str]:
    """The ``item2index`` prompt of each item's fields (``title``, ``description``): the chosen
    template where it fits, else the first that does."""
    templates = prompts.templates("item2index")
    out = []
    for values in fields:
        fitting = [t for t in [templates[template], *templates] if t.fits({**values, "item": "-"})]
        if not fitting:
            raise ValueError(f"no item2index template fits an item with fields {sorted(k for k, v in values.items() if v)}")
        out.append(fitting[0].prompt(prompts.wrapper, values))
    return out


@torch.no_grad()
def _search(llm, tokenizer, level_ids, prompts: list[str], space, beam_size: int, max_length: int, batch_size: int):
    device = next(llm.parameters()).device
    was_training = llm.training
    step_model = CausalLMStepModel(llm, [t.to(device) for t in level_ids])  # puts llm in eval mode
    space = space.to(device)
    codes, scores = [], []
    for start in range(0, len(prompts), batch_size):
        batch = {k: v.to(device) for k, v in encode_prompts(tokenizer, prompts[start:start + batch_size], max_length).items()}
        result = constrained_beam_search(step_model, batch, space, beam_size, beam_size)
        codes.append(result.codes.cpu()), scores.append(result.scores.cpu())
    llm.train(was_training)
    return torch.cat(codes), torch.cat(scores)


def text_to_token_accuracy(module, items: np.ndarray, beam_size: int = 10, batch_size: int = 32,
                           candidates: np.ndarray | None = None) -> float:
    """Share of ``items`` whose text, through ``module`` (an ``LLMRecommender``), ranks its own code
    first among the codes of ``candidates`` (default: every item)."""
    fields = [module.context.item_fields(int(i)) for i in items]
    prompts = text_to_token_prompts(module.prompts, fields)
    codes = module.item_codes.codes if candidates is None else module.item_codes.codes[torch.as_tensor(candidates)]
    trie = CodeTrie(codes, module.item_codes.codebook_sizes)
    codes, _ = _search(module.llm, module.tokenizer, module.code_tokens.level_ids, prompts, trie, beam_size,
                       module.cfg.max_length, batch_size)
    return float((codes[:, 0] == module.item_codes.codes[torch.as_tensor(items)]).all(1).float().mean())


def codes_for_new_items(llm, tokenizer, level_ids, prompts: PromptSet, fields: list[dict[str, str]],
                        taken_codes: torch.Tensor, codebook_sizes: list[int], beam_size: int = 10,
                        max_length: int = 1024, batch_size: int = 32,
                        seen_prefixes_only: bool = False) -> torch.Tensor:
    """``[len(fields), L]`` codes for new items: each item's best-scoring generated code that no
    existing item and no earlier new item holds (items are served in order; an item whose beams
    are all taken by earlier new items is searched again against the grown set). With
    ``seen_prefixes_only`` the code's prefix before the last level is one an existing item holds."""

    def space(taken: torch.Tensor) -> OpenCodeSpace:  # the fitted prefixes while one has room, else every code
        seen = OpenCodeSpace(taken, codebook_sizes, seen_prefixes_only=True) if seen_prefixes_only else None
        return seen if seen is not None and seen.has_free_code() else OpenCodeSpace(taken, codebook_sizes)

    taken = torch.as_tensor(taken_codes, dtype=torch.long)
    texts = text_to_token_prompts(prompts, fields)
    codes, _ = _search(llm, tokenizer, level_ids, texts, space(taken), beam_size, max_length, batch_size)
    chosen = []
    used = {tuple(row) for row in taken.tolist()}
    for row, beams in enumerate(codes.tolist()):
        free = [tuple(c) for c in beams if c[0] >= 0 and tuple(c) not in used]
        if not free:  # every beam went to an earlier new item: search again with those taken too
            retry, _ = _search(llm, tokenizer, level_ids, texts[row:row + 1], space(torch.tensor(sorted(used))),
                               beam_size, max_length, 1)
            free = [tuple(retry[0, 0].tolist())]
        chosen.append(free[0])
        used.add(free[0])
    return torch.tensor(chosen, dtype=torch.long).reshape(-1, len(codebook_sizes))
