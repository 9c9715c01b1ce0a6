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
    return dataset
