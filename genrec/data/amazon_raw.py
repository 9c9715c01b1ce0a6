"""The official UCSD Amazon 2014 files -> chronological sequences with iterated 5-core.

``reviews_<Category>_5.json.gz``: one JSON object per line (``reviewerID``, ``asin``,
``unixReviewTime``). ``meta_<Category>.json.gz``: one *Python literal* per line, parsed
with ``ast.literal_eval`` (never ``eval``). Items are ordered per user by
``unixReviewTime``; ties keep the file order (as P5 / S3-Rec did). Filtering drops
users and items with fewer than ``min_interactions`` until none is left (iterated
k-core). Users and items are numbered in order of first appearance.
"""

from __future__ import annotations

import ast
import gzip
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from genrec.data.config import DataConfig
from genrec.data.dataset import Catalog, Interactions, RecDataset
from genrec.data.root import decoding, require_file, resolve_data_root
from genrec.errors import DataError

HOW_TO_GET = "run `python -m genrec.data.download amazon-<category>` (needs internet)."


@dataclass
class AmazonRawConfig(DataConfig):
    loader: str = "amazon_raw"
    category: str = "???"  # e.g. Beauty, Sports_and_Outdoors, Toys_and_Games
    min_interactions: int = 5
    text_template: str = "{title}[; brand: {brand}][; categories: {categories}]"


def _open_lines(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with decoding(path), opener(path, "rt", encoding="utf-8") as handle:
        yield from enumerate(handle, start=1)


def read_reviews(path: Path) -> list[tuple[str, str, int]]:
    """(user, item, time) per review line; malformed lines name the file and line."""
    rows = []
    for line_no, line in _open_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            rows.append((record["reviewerID"], record["asin"], int(record["unixReviewTime"])))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise DataError(f"{path}:{line_no}: not a review record ({err})") from None
    return rows


def read_meta(path: Path) -> dict[str, dict]:
    """ASIN -> metadata dict, each line parsed as a Python literal."""
    meta = {}
    for line_no, line in _open_lines(path):
        if not line.strip():
            continue
        try:
            record = ast.literal_eval(line)
        except (ValueError, SyntaxError) as err:
            raise DataError(f"{path}:{line_no}: not a Python literal ({err})") from None
        if isinstance(record, dict) and "asin" in record:
            meta[record["asin"]] = record
    return meta


def k_core(rows: list[tuple[str, str, int]], k: int) -> list[tuple[str, str, int]]:
    """Drop users and items with < k interactions, repeatedly, until stable."""
    while True:
        users = Counter(u for u, _, _ in rows)
        items = Counter(i for _, i, _ in rows)
        kept = [r for r in rows if users[r[0]] >= k and items[r[1]] >= k]
        if len(kept) == len(rows):
            return kept
        rows = kept


def load_amazon_raw(cfg: AmazonRawConfig) -> RecDataset:
    base = resolve_data_root(cfg.root) / cfg.directory
    reviews = require_file(base / f"reviews_{cfg.category}_5.json.gz", cfg.dataset, HOW_TO_GET)
    rows = k_core(read_reviews(reviews), cfg.min_interactions)

    per_user: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for position, (user, item, time) in enumerate(rows):
        per_user[user].append((time, position, item))
    user_ids = list(per_user)  # dicts keep first-appearance order
    item_index: dict[str, int] = {}
    sequences = []
    for user in user_ids:
        ordered = [item for _, _, item in sorted(per_user[user])]
        sequences.append([item_index.setdefault(item, len(item_index)) for item in ordered])
    asins = list(item_index)

    meta_path = base / f"meta_{cfg.category}.json.gz"
    meta = read_meta(meta_path) if meta_path.is_file() else {}
    fields = {
        "title": [meta.get(a, {}).get("title", "") for a in asins],
        "brand": [meta.get(a, {}).get("brand", "") for a in asins],
        "categories": [meta.get(a, {}).get("categories", []) for a in asins],
        "description": [meta.get(a, {}).get("description", "") for a in asins],
    }
    catalog = Catalog(
        dataset=cfg.dataset,
        external_ids=asins,
        fields=fields,
        metadata={"format": "amazon_raw", "k_core": cfg.min_interactions, "has_meta": bool(meta)},
    )
    return RecDataset(catalog, Interactions(user_ids=user_ids, sequences=sequences))
