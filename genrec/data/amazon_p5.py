"""Amazon 2014 Beauty / Sports / Toys in the P5 / S3-Rec preprocessed form.

Files (paths relative to ``<data root>/<directory>``, all set by config):
``sequences``  one line per user: ``user item item ...`` (1-based P5 ids, chronological);
``datamaps``   P5 ``datamaps.json`` with ``id2item`` (P5 id -> ASIN), optionally ``id2user``;
``titles``     TransRec ``title_maps.json`` (``item2title``: ASIN -> title);
``categories`` TransRec ``category_map.json`` (``item2category``: ASIN -> category paths);
``brands``     AtSpeed ``brand_map.json`` (only ``item2brand``: ASIN -> brand is used);
``textual_ids`` IDGenRec ``item_generative_indexing_phase_0.txt`` (``ASIN words...``):
               the fallback text for Sports, which has no real titles. It is model output,
               not Amazon metadata, and the catalogue's metadata says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from genrec.data.config import DataConfig
from genrec.data.dataset import Catalog, Interactions, RecDataset
from genrec.data.root import decoding, require_file, resolve_data_root
from genrec.errors import DataError

HOW_TO_GET = (
    "the P5/S3-Rec files are in the project's shared data (set GENREC_DATA_DIR=../shared/data); "
    "elsewhere start from the official UCSD files with the amazon_raw loader "
    "(python -m genrec.data.download amazon-<category>)."
)
HOW_TO_GET_TEXTUAL_IDS = (
    "IDGenRec's textual IDs: python -m genrec.data.download idgenrec-<beauty|sports|toys> [--root DIR] "
    "(sha256-checked; the shared data has Sports' only)."
)


@dataclass
class AmazonP5Config(DataConfig):
    loader: str = "amazon_p5"
    sequences: str = "???"
    datamaps: str = "???"
    titles: str | None = None
    categories: str | None = None
    brands: str | None = None
    textual_ids: str | None = None


def read_p5_sequences(path: Path) -> tuple[list[str], list[list[int]]]:
    """Parse a P5 sequence file into user ids and 1-based item-id lists (CRLF tolerated)."""
    users, sequences = [], []
    with decoding(path), open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                ids = [int(p) for p in parts]
            except ValueError:
                raise DataError(f"{path}:{line_no}: expected integers 'user item item ...'") from None
            if len(ids) < 2:
                raise DataError(f"{path}:{line_no}: user {parts[0]} has no items")
            users.append(parts[0])
            sequences.append(ids[1:])
    return users, sequences


def _load_json(path: Path, key: str) -> dict:
    try:
        with decoding(path), open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err}); restore the original file") from None
    if not isinstance(data, dict) or key not in data:
        found = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
        raise DataError(f"{path}: expected a JSON object with a top-level key {key!r}, found {found}")
    if not isinstance(data[key], dict):
        raise DataError(f"{path}: {key!r} should map ids to values, found a {type(data[key]).__name__}")
    return data[key]


def _read_textual_ids(path: Path) -> dict[str, str]:
    mapping = {}
    with decoding(path), open(path, encoding="utf-8") as handle:
        for line in handle:
            asin, _, text = line.strip().partition(" ")
            if asin:
                mapping[asin] = text
    return mapping


def load_amazon_p5(cfg: AmazonP5Config) -> RecDataset:
    base = resolve_data_root(cfg.root) / cfg.directory

    def file(name: str, how_to_get: str = HOW_TO_GET) -> Path:
        return require_file(base / name, cfg.dataset, how_to_get)

    users, raw_sequences = read_p5_sequences(file(cfg.sequences))
    id2item = _load_json(file(cfg.datamaps), "id2item")
    n_items = len(id2item)
    expected = {str(i) for i in range(1, n_items + 1)}
    if set(id2item) != expected:
        raise DataError(f"{base / cfg.datamaps}: id2item keys are not the contiguous ids 1..{n_items}")
    asins = [id2item[str(i)] for i in range(1, n_items + 1)]
    for user, seq in zip(users, raw_sequences):
        bad = [i for i in seq if not 1 <= i <= n_items]
        if bad:
            raise DataError(f"{base / cfg.sequences}: user {user} names item(s) {bad[:5]} not in datamaps")

    fields: dict[str, list] = {"source_id": [str(i) for i in range(1, n_items + 1)]}
    metadata = {"format": "p5", "directory": str(cfg.directory), "text_source": {}}
    if cfg.titles:
        item2title = _load_json(file(cfg.titles), "item2title")
        fields["title"] = [item2title.get(a, "") for a in asins]
        metadata["text_source"]["title"] = "TransRec title_maps.json (Amazon metadata)"
    if cfg.categories:
        item2cat = _load_json(file(cfg.categories), "item2category")
        fields["categories"] = [item2cat.get(a, []) for a in asins]
    if cfg.brands:
        item2brand = _load_json(file(cfg.brands), "item2brand")
        fields["brand"] = [
            "" if item2brand.get(a, "") in ("", "Unknown") else item2brand[a] for a in asins
        ]
    if cfg.textual_ids:
        textual = _read_textual_ids(file(cfg.textual_ids, HOW_TO_GET_TEXTUAL_IDS))
        fields["textual_id"] = [textual.get(a, "") for a in asins]
        if "title" not in fields:
            fields["title"] = fields["textual_id"]
            metadata["text_source"]["title"] = (
                "FALLBACK: IDGenRec textual IDs (keywords generated by IDGenRec's model from the "
                "item text; model output, not Amazon metadata). This data config reads no real titles."
            )
    catalog = Catalog(dataset=cfg.dataset, external_ids=asins, fields=fields, metadata=metadata)

    try:
        id2user = _load_json(base / cfg.datamaps, "id2user")
        user_ids = [id2user.get(u, u) for u in users]
    except DataError:
        user_ids = users
    interactions = Interactions(
        user_ids=user_ids, sequences=[[i - 1 for i in seq] for seq in raw_sequences]
    )
    return RecDataset(catalog, interactions)
