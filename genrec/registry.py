"""The table of names a config can use. Adding a scheme = one module, one YAML, one line here.

Entries are imported lazily, so choosing SASRec never imports transformers.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from genrec.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    module: str
    config: str  # the dataclass holding this implementation's config keys
    build: str  # the function or class the config is given to
    reads_item_codes: bool = False  # a generator over a tokenizer's codes: runs are named after the codes

    def config_class(self):
        return getattr(importlib.import_module(self.module), self.config)

    def builder(self):
        return getattr(importlib.import_module(self.module), self.build)


DATA_LOADERS = {
    "amazon_p5": Entry("genrec.data.amazon_p5", "AmazonP5Config", "load_amazon_p5"),
    "amazon_raw": Entry("genrec.data.amazon_raw", "AmazonRawConfig", "load_amazon_raw"),
    "movielens": Entry("genrec.data.movielens", "MovieLensConfig", "load_movielens"),
    "lcrec": Entry("genrec.data.lcrec", "LCRecConfig", "load_lcrec"),
}

GENERATORS = {
    "sasrec": Entry("genrec.generators.sasrec", "SASRecConfig", "SASRec"),
    "tiger": Entry("genrec.generators.tiger", "TIGERConfig", "TIGER", reads_item_codes=True),
    "prorec": Entry("genrec.generators.prorec", "PRORecConfig", "PRORec", reads_item_codes=True),
    "lcrec": Entry("genrec.llm.lcrec", "LCRecLLMConfig", "LCRec", reads_item_codes=True),
    "store": Entry("genrec.llm.store", "STOREConfig", "STORE", reads_item_codes=True),
    "eager_llm": Entry("genrec.llm.eager_llm", "EAGERConfig", "EAGERLLM", reads_item_codes=True),
}

TOKENIZERS = {
    "rqvae": Entry("genrec.tokenizers.rqvae", "RQVAEConfig", "RQVAE"),
    "rqkmeans": Entry("genrec.tokenizers.rqkmeans", "RQKMeansConfig", "RQKMeans"),
    "hkmeans": Entry("genrec.tokenizers.hkmeans", "HKMeansConfig", "HierarchicalKMeans"),
    "random": Entry("genrec.tokenizers.random_ids", "RandomIDsConfig", "RandomIDs"),
    "atomic": Entry("genrec.tokenizers.atomic_ids", "AtomicIDsConfig", "AtomicIDs"),
    "store": Entry("genrec.llm.store_tokenizer", "StoreTokenizerConfig", "StoreTokenizer"),
    "lamia": Entry("genrec.llm.store_tokenizer", "LamiaTokenizerConfig", "StoreTokenizer"),
    "palette_kmeans": Entry("genrec.tokenizers.palette_kmeans", "PaletteKMeansConfig", "PaletteKMeans"),
    "eager_dual": Entry("genrec.tokenizers.dual_source", "DualSourceConfig", "DualSourceIndices"),
}

# config group -> (the key inside a group file naming its implementation, the table)
GROUPS = {
    "data": ("loader", DATA_LOADERS),
    "generator": ("model", GENERATORS),
    "tokenizer": ("scheme", TOKENIZERS),
}


def lookup(group: str, name: str) -> Entry:
    key, table = GROUPS[group]
    if name not in table:
        raise ConfigError(f"{group}.{key}={name!r} is not registered; known: {sorted(table)} (genrec/registry.py)")
    return table[name]
