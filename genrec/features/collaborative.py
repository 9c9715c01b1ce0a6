"""Collaborative item vectors: the item embeddings of a trained SASRec, as an artefact.

``checkpoints/<run>/item_embeddings.safetensors`` holds ``embeddings [n_items, d]``
in internal-id order; the JSON sidecar records the dataset and its fingerprint, so
a tokenizer cannot silently read vectors of another dataset. The model that made
them was trained on the training split only (validation picked the epoch).
"""

from __future__ import annotations

from pathlib import Path

import torch

from genrec.artefacts import read_json, read_tensors, write_json_atomic, write_tensors_atomic
from genrec.errors import ArtefactError

TENSORS = "item_embeddings.safetensors"
SIDECAR = "item_embeddings.json"


def save_item_vectors(directory: Path, vectors: torch.Tensor, meta: dict) -> Path:
    directory = Path(directory)
    write_tensors_atomic(directory / TENSORS, {"embeddings": vectors.float()})
    write_json_atomic(directory / SIDECAR, {**meta, "n_items": int(vectors.shape[0]), "dim": int(vectors.shape[1])})
    return directory / TENSORS


def load_item_vectors(directory: Path, dataset_fingerprint: str | None = None) -> tuple[torch.Tensor, dict]:
    """Vectors and sidecar; refuses vectors made from another dataset than ``dataset_fingerprint``."""
    directory = Path(directory)
    what = "collaborative item vectors"
    meta = read_json(directory / SIDECAR, what)
    vectors = read_tensors(directory / TENSORS, what)["embeddings"]
    if dataset_fingerprint and meta.get("dataset_fingerprint") != dataset_fingerprint:
        raise ArtefactError(
            f"{directory / SIDECAR}: vectors were trained on dataset {meta.get('dataset')} "
            f"(fingerprint {meta.get('dataset_fingerprint')}), not on the one loaded "
            f"({dataset_fingerprint}); train SASRec on this dataset first."
        )
    return vectors, meta
