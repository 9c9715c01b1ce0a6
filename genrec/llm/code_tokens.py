"""Item codes as LLM tokens: one added token per (level, code), ``<a_12><b_7><c_3>``.

Level names follow LC-Rec (``a``, ``b``, ``c``, ``d``, ...; level 27 onwards ``l27``). Tokens
are added in a fixed order (level by level, code by code), so the same tokenizer and the same
codebook sizes always give the same ids: a run rebuilt from its config gets the ids it trained.

Initialisation of the new embedding rows (``generator.code_token_init``):
- ``mean``: each new row is drawn from a normal with the existing rows' mean and covariance
  (transformers' ``mean_resizing``; input embeddings, and the output head when untied). On a
  model whose rows are nearly collinear the drawn rows are nearly identical, which slows
  learning to tell codes apart (measured on tiny random backbones, docs/llm.md);
- ``normal``: the model's own initialiser, ``N(0, initializer_range)`` (transformers before
  4.46, the version LC-Rec's reference code ran with);
- ``projected_centroids``: each (level, code) token starts at the centroid of its items'
  tokenizer vectors (the vectors the codes were fitted on), mapped into the LLM's embedding
  space by a ridge regression fitted from item vectors to the mean input embedding of each
  item's title tokens. ``ItemCodes`` carries codes, not codebooks, so the centroid of a code's
  items stands in for its codebook vector (a named deviation from "codebook vectors").
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import torch

from genrec.errors import ConfigError
from genrec.tokenizers.item_codes import ItemCodes

INITS = ("mean", "normal", "projected_centroids")


def level_name(level: int) -> str:
    return string.ascii_lowercase[level] if level < 26 else f"l{level + 1}"


def code_token(level: int, code: int) -> str:
    return f"<{level_name(level)}_{code}>"


@dataclass
class CodeTokens:
    """Where the code tokens sit in the LLM's vocabulary."""

    level_ids: list[torch.Tensor]  # level l: token id of each code, [codebook_size_l]
    item_texts: list[str]  # each item's codes as text, "<a_1><b_2><c_3>"

    @property
    def all_ids(self) -> list[int]:
        return [int(i) for ids in self.level_ids for i in ids]


def add_code_tokens(tokenizer, item_codes: ItemCodes) -> CodeTokens:
    """Add the code tokens to ``tokenizer`` (no-op for ones it already has) and say where they are."""
    strings = [[code_token(level, c) for c in range(size)] for level, size in enumerate(item_codes.codebook_sizes)]
    tokenizer.add_tokens([s for level in strings for s in level])
    level_ids = [torch.tensor(tokenizer.convert_tokens_to_ids(level)) for level in strings]
    texts = ["".join(strings[level][c] for level, c in enumerate(row)) for row in item_codes.codes.tolist()]
    return CodeTokens(level_ids, texts)


def resize_for_codes(model, tokenizer, tokens: CodeTokens, init: str,
                     centroids_in_llm_space: torch.Tensor | None = None) -> None:
    """Grow the model's embeddings to the tokenizer and initialise the code rows."""
    if init not in INITS:
        raise ConfigError(f"generator.code_token_init={init!r}: must be one of {list(INITS)}")
    # mean: transformers' mean resizing draws each new row from a normal with the old rows' mean and
    # covariance; normal: the model's own weight init (N(0, initializer_range)), what transformers
    # did before mean resizing (4.46) and so what LC-Rec's reference code ran with
    model.resize_token_embeddings(len(tokenizer), mean_resizing=init != "normal")
    if init == "projected_centroids" and centroids_in_llm_space is not None:
        ids = torch.tensor(tokens.all_ids)
        with torch.no_grad():
            for matrix in {id(m): m for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m}.values():
                matrix.weight[ids] = centroids_in_llm_space.to(matrix.weight.dtype)


def code_centroids(item_codes: ItemCodes, vectors: torch.Tensor) -> torch.Tensor:
    """``[sum(codebook sizes), d]``: the mean vector of the items holding each (level, code);
    a code no item holds gets the mean of all items."""
    rows = []
    overall = vectors.mean(0)
    for level, size in enumerate(item_codes.codebook_sizes):
        codes = item_codes.codes[:, level]
        sums = torch.zeros(size, vectors.shape[1]).index_add_(0, codes, vectors)
        counts = torch.bincount(codes, minlength=size).float()[:, None]
        rows.append(torch.where(counts > 0, sums / counts.clamp(min=1), overall))
    return torch.cat(rows)


def ridge_map(source: torch.Tensor, target: torch.Tensor, penalty: float = 1e-3) -> torch.Tensor:
    """``W`` (with a bias row) minimising ``|[source, 1] W - target|^2 + lambda |W|^2``, where
    ``lambda = penalty * mean diagonal of the Gram matrix`` (scale-free; it only keeps the solve stable)."""
    x = torch.cat([source, torch.ones(len(source), 1)], 1).double()
    gram = x.T @ x
    gram = gram + penalty * gram.diagonal().mean() * torch.eye(x.shape[1], dtype=torch.float64)
    return torch.linalg.solve(gram, x.T @ target.double()).float()


def projected_centroids(item_codes: ItemCodes, vectors: torch.Tensor, title_embeddings: torch.Tensor) -> torch.Tensor:
    """Code centroids mapped into the LLM's input-embedding space (see the module docstring)."""
    weights = ridge_map(vectors.float(), title_embeddings.float())
    centroids = code_centroids(item_codes, vectors.float())
    return torch.cat([centroids, torch.ones(len(centroids), 1)], 1) @ weights


def mean_title_embeddings(model, tokenizer, titles: list[str], batch: int = 256) -> torch.Tensor:
    """Each title's mean input embedding over its tokens (zeros for an empty title)."""
    table = model.get_input_embeddings().weight.detach().float().cpu()
    out = torch.zeros(len(titles), table.shape[1])
    for start in range(0, len(titles), batch):
        for row, ids in enumerate(tokenizer(titles[start:start + batch], add_special_tokens=False)["input_ids"]):
            if ids:
                out[start + row] = table[torch.tensor(ids)].mean(0)
    return out
