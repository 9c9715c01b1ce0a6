"""The LC-Rec / LETTER JSON form: the generic format for bringing your own dataset.

``<directory>/<name>.inter.json``: ``{"<user>": [item, item, ...]}`` in chronological order.
``<directory>/<name>.item.json`` (optional): ``{"<item>": {"title", "description",
"brand", "categories"}}``. Items are the union of both files, ordered numerically
when every id is an integer, else as strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from genrec.data.config import DataConfig
from genrec.data.dataset import Catalog, Interactions, RecDataset
from genrec.data.root import require_file, resolve_data_root
from genrec.errors import DataError

HOW_TO_GET = "write <name>.inter.json (and optionally <name>.item.json) as described in docs/datasets.md."
ITEM_FIELDS = ("title", "description", "brand", "categories")


@dataclass
class LCRecConfig(DataConfig):
    loader: str = "lcrec"
    name: str = "???"  # file prefix: <name>.inter.json, <name>.item.json
    text_template: str = "{title}[; brand: {brand}][; categories: {categories}]"


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: invalid JSON ({err})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level")
    return data


def _sort_ids(ids: set[str]) -> list[str]:
    if all(i.lstrip("-").isdigit() for i in ids):
        return sorted(ids, key=int)
    return sorted(ids)


def load_lcrec(cfg: LCRecConfig) -> RecDataset:
    base = resolve_data_root(cfg.root) / cfg.directory
    inter_path = require_file(base / f"{cfg.name}.inter.json", cfg.dataset, HOW_TO_GET)
    inter = _read_json(inter_path)
    item_path = base / f"{cfg.name}.item.json"
    item_meta = _read_json(item_path) if item_path.is_file() else {}

    for user, seq in inter.items():
        if not isinstance(seq, list) or not seq:
            raise DataError(f"{inter_path}: user {user!r} must map to a non-empty list of item ids")
    ids = {str(i) for seq in inter.values() for i in seq} | set(item_meta)
    item_ids = _sort_ids(ids)
    index = {item: i for i, item in enumerate(item_ids)}
    user_ids = _sort_ids(set(inter))
    sequences = [[index[str(i)] for i in inter[u]] for u in user_ids]

    fields = {f: [item_meta.get(i, {}).get(f, "") for i in item_ids] for f in ITEM_FIELDS}
    catalog = Catalog(
        dataset=cfg.dataset,
        external_ids=item_ids,
        fields=fields,
        metadata={"format": "lcrec", "has_item_file": bool(item_meta)},
    )
    return RecDataset(catalog, Interactions(user_ids=user_ids, sequences=sequences))
