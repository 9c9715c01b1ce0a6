"""Config fields every dataset loader shares; each loader extends this dataclass."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Shared dataset settings (``data.*`` in a config)."""

    loader: str = "???"  # registry name of the loader (amazon_p5, movielens, amazon_raw, lcrec)
    dataset: str = "???"  # short dataset name used in run names and results (beauty, ml100k, ...)
    root: str | None = None  # data root; else $GENREC_DATA_DIR, else ./data
    directory: str = "???"  # the dataset's folder below the data root
    max_history: int = 20  # most recent items a history holds (TIGER / LC-Rec: 20)
    text_template: str = "{title}"  # item text, see genrec.data.text
    duplicates: str = "error"  # an item twice in one user's sequence: error | dedupe (keep the first, warn) | keep
    cold_start_share: float = 0.0  # > 0: hold this share of test items out of training (TIGER's cold start)
    cold_start_seed: int = 0
