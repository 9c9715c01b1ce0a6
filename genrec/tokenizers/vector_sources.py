"""Where a tokenizer's item vectors come from: a table of named sources (``tokenizer.vectors``).

Each source is a function ``(cfg, dataset) -> (vectors [n_items, d], extras)``; ``extras`` carries
what a report needs beside the vectors (PRORec's stage-1 record). Adding a source is one function
and one line in ``VECTOR_SOURCES``; the tokenizer stage never grows an if/else.

- ``text``: a sentence encoder (or a causal LM, mean-pooled) over each item's text (``tokenizer.features``);
- ``collaborative``: a trained SASRec run's item embeddings (``tokenizer.collaborative_run``);
- ``fused``: PRORec's stage 1, text and collaborative vectors aligned and integrated;
- ``llm``: pooled hidden states of the generator's own LLM backbone over each item's text
  (STORE: the tokenizer is the LLM; ``tokenizer.llm``);
- ``none``: no vectors (random and atomic IDs).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from genrec.artefacts import read_json, read_tensors, write_json_atomic, write_tensors_atomic
from genrec.config import to_dict
from genrec.data import RecDataset
from genrec.data.text import item_texts
from genrec.errors import ArtefactError, ConfigError
from genrec.tokenizers.fit_cache import fit_key


def text_source(cfg: DictConfig, dataset: RecDataset) -> tuple[torch.Tensor, dict]:
    from genrec.features.text import text_vectors

    texts = item_texts(dataset.catalog, cfg.data.text_template)
    return text_vectors(texts, OmegaConf.to_object(cfg.tokenizer.features)), {}


def collaborative_source(cfg: DictConfig, dataset: RecDataset) -> tuple[torch.Tensor, dict]:
    from genrec.features.collaborative import load_item_vectors

    if not cfg.tokenizer.collaborative_run:
        raise ConfigError("tokenizer.vectors=collaborative needs tokenizer.collaborative_run=<SASRec run name>")
    vectors, _ = load_item_vectors(Path(cfg.checkpoints_dir) / cfg.tokenizer.collaborative_run, dataset.fingerprint())
    return vectors, {}


def fused_source(cfg: DictConfig, dataset: RecDataset) -> tuple[torch.Tensor, dict]:
    """PRORec stage 1 (genrec/features/alignment.py), cached by dataset, text vectors, fusion config and seed."""
    from genrec.features.alignment import fused_item_vectors, integrate

    text, _ = text_source(cfg, dataset)
    fusion = OmegaConf.to_object(cfg.tokenizer.fusion)
    cache = Path(cfg.tokenizer.fusion_cache_dir) if cfg.tokenizer.fusion_cache_dir else None
    training = {k: v for k, v in to_dict(cfg.tokenizer.fusion).items() if k != "integration"}
    key = fit_key({"dataset": dataset.fingerprint(), **training}, text, cfg.seed)
    cached = _cached_stage_one(cache, key) if cache is not None else None
    if cached is not None:
        collaborative, info = cached
        fused = integrate(text, collaborative, fusion.integration)
    else:
        fused, collaborative, info = fused_item_vectors(dataset, text, fusion, cfg.seed)
        if cache is not None:
            write_tensors_atomic(cache / f"{key}.safetensors", {"collaborative": collaborative.contiguous()})
            write_json_atomic(cache / f"{key}.json", info)
    return fused, {"fusion": {**info, "integration": fusion.integration}, "text": text, "collaborative": collaborative}


def _cached_stage_one(cache: Path, key: str) -> tuple[torch.Tensor, dict] | None:
    """A cached stage-1 fit, or None (none, or unreadable: a cache never fails a run)."""
    if not (cache / f"{key}.json").is_file():
        return None
    try:
        collaborative = read_tensors(cache / f"{key}.safetensors", "cached stage-1 fit")["collaborative"]
        return collaborative, {**read_json(cache / f"{key}.json", "cached stage-1 fit"), "from_cache": True}
    except (ArtefactError, KeyError) as err:
        warnings.warn(f"{err}; training stage 1 again", stacklevel=2)
        return None


def llm_source(cfg: DictConfig, dataset: RecDataset) -> tuple[torch.Tensor, dict]:
    """Pooled hidden states of ``tokenizer.llm.backbone`` over each item's text (STORE)."""
    from genrec.llm.item_states import LLMVectorConfig, backbone_item_vectors

    if "llm" not in cfg.tokenizer:
        raise ConfigError(f"tokenizer.vectors=llm needs a tokenizer.llm section (scheme {cfg.tokenizer.scheme!r} has "
                          "none); use tokenizer=store")
    llm = OmegaConf.to_object(cfg.tokenizer.llm) if isinstance(cfg.tokenizer.llm, DictConfig) else LLMVectorConfig()
    return backbone_item_vectors(llm, dataset.catalog, cfg.data.text_template), {}


def no_source(cfg: DictConfig, dataset: RecDataset) -> tuple[torch.Tensor, dict]:
    return torch.zeros(dataset.n_items, 1), {}


VECTOR_SOURCES: dict[str, Callable[[DictConfig, RecDataset], tuple[torch.Tensor, dict]]] = {
    "text": text_source,
    "collaborative": collaborative_source,
    "fused": fused_source,
    "llm": llm_source,
    "none": no_source,
}


def item_vectors(cfg: DictConfig, dataset: RecDataset) -> tuple[torch.Tensor, dict]:
    """The vectors the tokenizer quantises, from the source ``tokenizer.vectors`` names."""
    source = cfg.tokenizer.vectors
    if source not in VECTOR_SOURCES:
        raise ConfigError(f"tokenizer.vectors must be one of {sorted(VECTOR_SOURCES)}, got {source!r} "
                          "(genrec/tokenizers/vector_sources.py)")
    return VECTOR_SOURCES[source](cfg, dataset)
