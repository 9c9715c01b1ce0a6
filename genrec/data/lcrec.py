"""The LC-Rec / LETTER JSON form: the generic format for bringing your own dataset.

``<directory>/<name>.inter.json``: ``{"<user>": [item, item, ...]}`` in chronological order;
an item id is a non-negative integer or a non-empty string (not a float, boolean, null or list).
``<directory>/<name>.item.json`` (optional): ``{"<item>": {"title", "description",
"brand", "categories"}}``; with ``item_file: strict`` (default) it must list exactly the items
the interactions name, with ``lenient`` missing items get empty text and extra ones join the
catalogue. Items are ordered numerically when every id is an integer, else as strings.
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
    item_file: str = "strict"  # strict: <name>.item.json lists exactly the interacted items; lenient


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err}); fix the file (docs/datasets.md shows the form)") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 ({err.reason} at byte {err.start}); re-encode the file as UTF-8") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object {{\"<user>\": [item, ...]}} at the top level, found a "
                        f"{type(data).__name__}")
    return data


def _item_id(value, where: str) -> str:
    """An item id as a string; refuses values that would silently become catalogue items."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{where}: item id {value!r} is a {type(value).__name__}; ids are non-negative integers "
                        "or non-empty strings")
    if isinstance(value, int) and value < 0:
        raise DataError(f"{where}: item id {value} is negative; ids are non-negative integers or strings")
    if isinstance(value, str) and not value.strip():
        raise DataError(f"{where}: an item id is an empty string")
    return str(value)


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

    if cfg.item_file not in ("strict", "lenient"):
        raise DataError(f"data.item_file={cfg.item_file!r}: must be strict or lenient")
    if not inter:
        raise DataError(f"{inter_path}: no users; expected {{\"<user>\": [item, ...]}}")
    raw = {}
    for user, seq in inter.items():
        if not isinstance(seq, list) or not seq:
            raise DataError(f"{inter_path}: user {user!r} must map to a non-empty list of item ids, found {seq!r}")
        raw[user] = [_item_id(i, f"{inter_path}: user {user!r}, position {p}") for p, i in enumerate(seq)]
    interacted = {i for seq in raw.values() for i in seq}
    bad_meta = [k for k, v in item_meta.items() if not isinstance(v, dict)]
    if bad_meta:
        raise DataError(f"{item_path}: item {bad_meta[0]!r} maps to {type(item_meta[bad_meta[0]]).__name__}; each "
                        "item maps to an object {\"title\": ..., ...}")
    if item_meta and cfg.item_file == "strict":
        missing, extra = sorted(interacted - set(item_meta)), sorted(set(item_meta) - interacted)
        if missing or extra:
            raise DataError(f"{item_path}: lists {len(extra)} item(s) no user interacted with {extra[:5]} and misses "
                            f"{len(missing)} interacted item(s) {missing[:5]}; make the files agree, or set "
                            "data.item_file=lenient (missing items get empty text, extra ones join the catalogue)")
    item_ids = _sort_ids(interacted | set(item_meta))
    index = {item: i for i, item in enumerate(item_ids)}
    user_ids = _sort_ids(set(raw))
    sequences = [[index[i] for i in raw[u]] for u in user_ids]

    fields = {f: [item_meta.get(i, {}).get(f, "") for i in item_ids] for f in ITEM_FIELDS}
    catalog = Catalog(
        dataset=cfg.dataset,
        external_ids=item_ids,
        fields=fields,
        metadata={"format": "lcrec", "has_item_file": bool(item_meta)},
    )
    return RecDataset(catalog, Interactions(user_ids=user_ids, sequences=sequences))
