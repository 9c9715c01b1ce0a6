"""``ItemCodes``: the contract between tokenizers and generators.

A table ``codes [n_items, n_levels]`` (row = internal item id) with the codebook
size of each level, the scheme's name and config, and two fingerprints: of the
dataset the codes were fitted on, and of the table itself. Every row is unique.
Saved under ``tokenizers/<name>/`` as ``codes.safetensors`` + ``item_codes.json``,
written atomically; loading re-checks both fingerprints.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genrec.artefacts import read_json, read_tensors, write_json_atomic, write_tensors_atomic
from genrec.errors import ArtefactError

TENSORS = "codes.safetensors"
SIDECAR = "item_codes.json"
FORMAT_VERSION = 1


def table_fingerprint(codes: torch.Tensor, codebook_sizes: list[int]) -> str:
    digest = hashlib.sha256()
    digest.update(str(list(codebook_sizes)).encode())
    digest.update(str(tuple(codes.shape)).encode())
    digest.update(codes.to(torch.int64).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class ItemCodes:
    codes: torch.Tensor  # LongTensor [n_items, n_levels]
    codebook_sizes: list[int]
    scheme: str
    dataset: str
    dataset_fingerprint: str
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.codes = torch.as_tensor(self.codes, dtype=torch.long)
        self.codebook_sizes = [int(s) for s in self.codebook_sizes]
        if self.codes.ndim != 2 or self.codes.shape[1] != len(self.codebook_sizes):
            raise ValueError(f"codes must be [n_items, {len(self.codebook_sizes)}], got {tuple(self.codes.shape)}")

    @property
    def n_items(self) -> int:
        return self.codes.shape[0]

    @property
    def n_levels(self) -> int:
        return self.codes.shape[1]

    @property
    def fingerprint(self) -> str:
        return table_fingerprint(self.codes, self.codebook_sizes)

    def collision_count(self) -> int:
        """Items whose full code is shared with at least one other item."""
        _, inverse, counts = torch.unique(self.codes, dim=0, return_inverse=True, return_counts=True)
        return int((counts[inverse] > 1).sum())

    def validate(self) -> None:
        """Unique rows and every code inside its level's codebook."""
        sizes = torch.tensor(self.codebook_sizes)
        if (self.codes < 0).any() or (self.codes >= sizes).any():
            raise ArtefactError(f"{self.scheme}: a code lies outside its codebook sizes {self.codebook_sizes}")
        colliding = self.collision_count()
        if colliding:
            raise ArtefactError(
                f"{self.scheme}: {colliding} items share their code with another item; every code must be "
                "unique (choose a collision method: tokenizer.collisions=extra_level or sinkhorn)"
            )

    def save(self, directory: Path) -> Path:
        self.validate()
        directory = Path(directory)
        write_tensors_atomic(directory / TENSORS, {"codes": self.codes})
        write_json_atomic(directory / SIDECAR, {
            "format_version": FORMAT_VERSION,
            "scheme": self.scheme,
            "n_items": self.n_items,
            "n_levels": self.n_levels,
            "codebook_sizes": self.codebook_sizes,
            "dataset": self.dataset,
            "dataset_fingerprint": self.dataset_fingerprint,
            "fingerprint": self.fingerprint,
            "config": self.config,
        })
        return directory

    @classmethod
    def load(cls, directory: Path, dataset_fingerprint: str | None = None) -> ItemCodes:
        """Load and check; ``dataset_fingerprint`` refuses codes fitted on another dataset."""
        directory = Path(directory)
        what = f"item codes in {directory}"
        meta = read_json(directory / SIDECAR, what)
        tensors = read_tensors(directory / TENSORS, what)
        missing = sorted({"codebook_sizes", "scheme", "dataset", "dataset_fingerprint", "fingerprint"} - set(meta))
        if missing or "codes" not in tensors:
            raise ArtefactError(f"{what}: {directory / SIDECAR} lacks {missing or ['codes']}; the artefact was "
                                f"edited or is incomplete: delete {directory} and refit the tokenizer")
        try:
            item_codes = cls(tensors["codes"], meta["codebook_sizes"], meta["scheme"], meta["dataset"],
                             meta["dataset_fingerprint"], meta.get("config", {}))
        except (TypeError, ValueError) as err:
            raise ArtefactError(f"{what}: {err}; delete {directory} and refit the tokenizer") from None
        if item_codes.fingerprint != meta["fingerprint"]:
            raise ArtefactError(
                f"{directory}: the codes in {TENSORS} (fingerprint {item_codes.fingerprint}) are not the ones "
                f"{SIDECAR} records ({meta['fingerprint']}); the files were modified or mixed up. Delete "
                f"{directory} and refit the tokenizer."
            )
        if dataset_fingerprint and meta["dataset_fingerprint"] != dataset_fingerprint:
            raise ArtefactError(
                f"{directory}: codes were fitted on dataset {meta['dataset']} (fingerprint "
                f"{meta['dataset_fingerprint']}), not on the loaded one ({dataset_fingerprint}). "
                "Fit a tokenizer on this dataset: python train.py stage=tokenizer data=<dataset> tokenizer=<scheme>"
            )
        item_codes.validate()
        return item_codes
