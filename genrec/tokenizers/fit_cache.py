"""Cache of scheme fits, so re-resolving collisions (extra level vs Sinkhorn) or
re-plotting never refits. Keyed by the scheme's fitting keys (not its collision
keys), the exact input vectors and the seed; stored as safetensors + JSON."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch

from genrec.artefacts import read_json, read_tensors, write_json_atomic, write_tensors_atomic
from genrec.errors import ArtefactError
from genrec.tokenizers.base import FitOutput

# keys that change what happens after the fit, not the fit itself
POST_FIT_KEYS = {"name", "collisions", "sinkhorn_epsilon", "sinkhorn_rounds", "sinkhorn_iterations",
                 "exact_fallback", "min_level1_usage", "fit_cache_dir"}


def fit_key(config: dict, vectors: torch.Tensor, seed: int) -> str:
    fitting = {k: v for k, v in sorted(config.items()) if k not in POST_FIT_KEYS}
    digest = hashlib.sha256(json.dumps(fitting, sort_keys=True, default=str).encode())
    digest.update(vectors.float().contiguous().numpy().tobytes())
    digest.update(str(seed).encode())
    return digest.hexdigest()[:20]


def load_fit(directory: Path, key: str) -> FitOutput | None:
    """The cached fit, or None when there is none or it cannot be read (a cache never fails a run)."""
    meta_path = Path(directory) / f"{key}.json"
    if not meta_path.is_file():
        return None
    try:
        meta = read_json(meta_path, "cached fit")
        tensors = read_tensors(Path(directory) / f"{key}.safetensors", "cached fit")
    except ArtefactError as err:
        warnings.warn(f"{err}; fitting again", stacklevel=2)
        return None
    return FitOutput(codes=tensors["codes"], codebook_sizes=meta["codebook_sizes"],
                     last_inputs=tensors.get("last_inputs"), last_codebook=tensors.get("last_codebook"),
                     details={**meta["details"], "from_cache": True})


def save_fit(directory: Path, key: str, fit: FitOutput) -> None:
    tensors = {"codes": fit.codes}
    if fit.last_inputs is not None:
        tensors |= {"last_inputs": fit.last_inputs, "last_codebook": fit.last_codebook}
    write_tensors_atomic(Path(directory) / f"{key}.safetensors", tensors)
    write_json_atomic(Path(directory) / f"{key}.json", {"codebook_sizes": fit.codebook_sizes, "details": fit.details})
