"""The canonical in-memory form every loader produces: a catalogue and user sequences.

Item ids inside genrec are contiguous integers ``0 .. n_items-1`` (the *internal*
ids); ``Catalog.external_ids[i]`` is the id the source files use. Models that
need a padding token shift by one themselves; nothing here does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Catalog:
    """Items of one dataset: external ids, text fields and provenance."""

    dataset: str
    external_ids: list[str]
    fields: dict[str, list[Any]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, values in self.fields.items():
            if len(values) != len(self.external_ids):
                raise ValueError(
                    f"catalogue field {name!r} has {len(values)} values for "
                    f"{len(self.external_ids)} items"
                )
        self._index = {ext: i for i, ext in enumerate(self.external_ids)}
        if len(self._index) != len(self.external_ids):
            raise ValueError(f"{self.dataset}: duplicate external item ids in the catalogue")

    def __len__(self) -> int:
        return len(self.external_ids)

    def internal_id(self, external_id: str) -> int:
        """Internal id of an external id; KeyError names the id when unknown."""
        try:
            return self._index[str(external_id)]
        except KeyError:
            raise KeyError(f"item {external_id!r} is not in the {self.dataset} catalogue") from None

    def find(self, external_id: str) -> int | None:
        """Internal id of an external id, ``None`` when unknown."""
        return self._index.get(str(external_id))

    def field(self, name: str, item: int) -> Any:
        values = self.fields.get(name)
        return None if values is None else values[item]


@dataclass
class Interactions:
    """Per-user chronological sequences of internal item ids."""

    user_ids: list[str]
    sequences: list[np.ndarray]

    def __post_init__(self) -> None:
        if len(self.user_ids) != len(self.sequences):
            raise ValueError("user_ids and sequences differ in length")
        self.sequences = [np.asarray(s, dtype=np.int64) for s in self.sequences]

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def n_interactions(self) -> int:
        return int(sum(len(s) for s in self.sequences))


@dataclass
class RecDataset:
    """A loaded dataset: its catalogue and its user sequences."""

    catalog: Catalog
    interactions: Interactions
    cold_items: np.ndarray | None = None  # items held out of training (data.cold_start_share), else None

    @property
    def name(self) -> str:
        return self.catalog.dataset

    @property
    def n_items(self) -> int:
        return len(self.catalog)

    def statistics(self) -> dict[str, Any]:
        lengths = np.array([len(s) for s in self.interactions.sequences])
        return {
            "users": len(self.interactions),
            "items": self.n_items,
            "interactions": self.interactions.n_interactions,
            "mean_sequence_length": float(lengths.mean()) if len(lengths) else 0.0,
            "max_sequence_length": int(lengths.max()) if len(lengths) else 0,
        }

    def fingerprint(self) -> str:
        """sha256 over the catalogue ids and every sequence: changes iff the data does."""
        digest = hashlib.sha256()
        digest.update(self.name.encode())
        digest.update("\x1f".join(self.catalog.external_ids).encode())
        for user, seq in zip(self.interactions.user_ids, self.interactions.sequences):
            digest.update(str(user).encode() + b"\x1e")
            digest.update(np.ascontiguousarray(seq, dtype=np.int64).tobytes())
        if self.cold_items is not None:
            digest.update(b"cold" + np.ascontiguousarray(self.cold_items, dtype=np.int64).tobytes())
        return digest.hexdigest()[:16]

    def validate(self) -> None:
        """Check every sequence only names catalogue items."""
        n = self.n_items
        for user, seq in zip(self.interactions.user_ids, self.interactions.sequences):
            if len(seq) and (seq.min() < 0 or seq.max() >= n):
                raise ValueError(f"{self.name}: user {user} has an item id outside 0..{n - 1}")
