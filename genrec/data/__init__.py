"""Datasets: loaders to one canonical form, leave-one-out splits, DataModules."""

from __future__ import annotations

from genrec.data.dataset import Catalog, Interactions, RecDataset
from genrec.registry import lookup

__all__ = ["Catalog", "Interactions", "RecDataset", "load_dataset"]


def load_dataset(data_cfg) -> RecDataset:
    """Load the dataset a ``data`` config node describes (its ``loader`` picks the code)."""
    from omegaconf import OmegaConf

    entry = lookup("data", data_cfg.loader)
    cfg = data_cfg if not OmegaConf.is_config(data_cfg) else OmegaConf.to_object(data_cfg)
    dataset = entry.builder()(cfg)
    dataset.validate()
    apply_duplicate_policy(dataset, getattr(cfg, "duplicates", "error"))
    if getattr(cfg, "cold_start_share", 0.0):
        from genrec.data.cold_start import hold_out_items

        dataset = hold_out_items(dataset, cfg.cold_start_share, cfg.cold_start_seed)
    return dataset


def apply_duplicate_policy(dataset: RecDataset, policy: str) -> None:
    """``data.duplicates``: an item repeated inside one user's sequence is refused (``error``),
    dropped after its first occurrence with a warning (``dedupe``), or kept (``keep``; beware:
    models that never rank items already seen then cannot score a repeated target)."""
    import warnings

    import numpy as np

    from genrec.errors import DataError

    if policy not in ("error", "dedupe", "keep"):
        raise DataError(f"data.duplicates={policy!r}: must be error, dedupe or keep")
    if policy == "keep":
        return
    sequences = dataset.interactions.sequences
    repeated = [u for u, seq in enumerate(sequences) if len(np.unique(seq)) < len(seq)]
    if not repeated:
        return
    first = repeated[0]
    seq = sequences[first]
    values, counts = np.unique(seq, return_counts=True)
    item = dataset.catalog.external_ids[int(values[counts > 1][0])]
    if policy == "error":
        raise DataError(f"dataset {dataset.name!r}: {len(repeated)} user(s) have an item twice in their sequence "
                        f"(user {dataset.interactions.user_ids[first]!r}, item {item!r}); set data.duplicates=dedupe to "
                        "keep each item's first occurrence, or data.duplicates=keep to keep repeats")
    for user in repeated:
        seq = sequences[user]
        _, first_positions = np.unique(seq, return_index=True)
        sequences[user] = seq[np.sort(first_positions)]
    warnings.warn(f"data.duplicates=dedupe: dropped repeated items from {len(repeated)} user(s) of {dataset.name}",
                  stacklevel=2)
