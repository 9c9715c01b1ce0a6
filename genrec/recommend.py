"""Recommendations from a trained run, for a history given as item ids or exact titles.

    python evaluate.py recommend checkpoint=checkpoints/tiger_ml100k history=[50,181,1] top_k=10

or from Python::

    from genrec.recommend import Recommender
    recommender = Recommender.from_checkpoint("checkpoints/tiger_ml100k")
    for row in recommender.recommend(["Star Wars (1977)", "Fargo (1996)"], top_k=5):
        print(row.rank, row.item_id, row.title, row.score)

``checkpoint`` is a run directory (``checkpoints/<run>``, its ``best.ckpt`` is used,
else ``last.ckpt``) or a ``.ckpt`` file inside one; the run's ``config.yaml`` says
which dataset, tokenizer and generator to rebuild. A history entry is matched to the
catalogue's external item ids first, then to exact titles; unknown or ambiguous
entries are refused with their names. Items already in the history are left out of
the recommendations unless ``exclude_history=false``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from genrec.errors import ArtefactError, DataError

NEW_USER = -1  # the hashed user token of a history that belongs to no known user


@dataclass
class Recommendation:
    rank: int
    item_id: str
    title: str | None
    score: float


def _run_files(checkpoint: str | Path) -> tuple[Path, Path]:
    """(config.yaml, checkpoint file) of a run directory or of a checkpoint inside one."""
    path = Path(checkpoint)
    directory = path.parent if path.suffix == ".ckpt" else path
    config = directory / "config.yaml"
    if not config.is_file():
        raise ArtefactError(f"{checkpoint}: no config.yaml beside it; pass a run directory (checkpoints/<run>) "
                            "or a .ckpt file inside one")
    if path.suffix == ".ckpt":
        weights = path
    else:
        weights = next((directory / n for n in ("best.ckpt", "last.ckpt") if (directory / n).is_file()),
                       directory / "best.ckpt")
    if not weights.is_file():
        raise ArtefactError(f"{weights} does not exist; train the run first (python train.py ...)")
    return config, weights


class Recommender:
    """A trained generator with its catalogue: histories in, top-K items (with titles) out."""

    def __init__(self, model, dataset, max_history: int = 20):
        self.model = model.eval()
        self.dataset = dataset
        self.max_history = max_history
        catalog = dataset.catalog
        self._titles: dict[str, list[int]] = {}
        for item, title in enumerate(catalog.fields.get("title") or []):
            if title:
                self._titles.setdefault(str(title), []).append(item)
        self._users = {user: index for index, user in enumerate(dataset.interactions.user_ids)}

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, overrides: list[str] | None = None) -> Recommender:
        from genrec.config import load_saved
        from genrec.training.pipeline import build_datamodule, build_generator, load_weights

        config, weights = _run_files(checkpoint)
        cfg = load_saved(config, overrides)
        datamodule = build_datamodule(cfg)
        model = build_generator(cfg, datamodule)
        load_weights(model, weights)
        return cls(model, datamodule.dataset, cfg.data.max_history)

    def resolve(self, history: list[str | int]) -> list[int]:
        """Internal item ids of history entries (external ids or exact titles), oldest first."""
        catalog = self.dataset.catalog
        items, unknown, ambiguous = [], [], []
        for entry in history:
            key = str(entry)
            if catalog.find(key) is not None:
                items.append(catalog.find(key))
            elif len(self._titles.get(key, [])) == 1:
                items.append(self._titles[key][0])
            elif key in self._titles:
                ambiguous.append(f"{key!r} (ids {[catalog.external_ids[i] for i in self._titles[key]]})")
            else:
                unknown.append(repr(key))
        if unknown or ambiguous:
            parts = []
            if unknown:
                parts.append(f"not in the {catalog.dataset} catalogue (neither an item id nor an exact title): "
                             + ", ".join(unknown))
            if ambiguous:
                parts.append("titles shared by several items, give the item id instead: " + ", ".join(ambiguous))
            raise DataError("history: " + "; ".join(parts))
        if not items:
            raise DataError("history is empty: give at least one item id or exact title")
        return items

    @torch.no_grad()
    def recommend(self, history: list[str | int], top_k: int = 10, user: str | None = None,
                  exclude_history: bool = True) -> list[Recommendation]:
        """Top-``top_k`` items for ``history`` (oldest first). ``user`` (an external user id
        of the dataset) picks that user's token for models that read one (TIGER)."""
        if top_k < 1:
            raise DataError(f"top_k must be at least 1, got {top_k}")
        items = self.resolve(history)
        available = self.dataset.n_items - (len(set(items)) if exclude_history else 0)
        if top_k > available:
            raise DataError(f"top_k={top_k} is more than the {available} items there are to recommend (the "
                            f"{self.dataset.n_items}-item catalogue" + (", less the history" if exclude_history else "")
                            + "); ask for fewer")
        if user is None:
            user_index = NEW_USER
        elif str(user) in self._users:
            user_index = self._users[str(user)]
        else:
            raise DataError(f"user {user!r} is not in the {self.dataset.name} interactions; leave user out "
                            "to recommend for a new user")
        recent = items[-self.max_history:]
        device = self.model.device
        asked = min(top_k + (len(set(items)) if exclude_history else 0), self.dataset.n_items)
        found, scores = self.model.recommend(torch.tensor([user_index], device=device),
                                             torch.tensor([recent], device=device), asked)
        seen = set(items) if exclude_history else set()
        rows = []
        for item, score in zip(found[0].tolist(), scores[0].tolist()):
            if item < 0 or item in seen:
                continue
            rows.append(Recommendation(len(rows) + 1, self.dataset.catalog.external_ids[item],
                                       self.dataset.catalog.field("title", item), float(score)))
            if len(rows) == top_k:
                break
        return rows


def recommend(checkpoint: str | Path, history: list[str | int], top_k: int = 10, user: str | None = None,
              exclude_history: bool = True) -> list[Recommendation]:
    """One-shot: load the run at ``checkpoint`` and recommend for ``history``."""
    return Recommender.from_checkpoint(checkpoint).recommend(history, top_k, user, exclude_history)


def format_recommendations(rows: list[Recommendation]) -> str:
    lines = ["| rank | item id | title | score |", "|---|---|---|---|"]
    lines += [f"| {r.rank} | {r.item_id} | {r.title or ''} | {r.score:.4f} |" for r in rows]
    return "\n".join(lines)
