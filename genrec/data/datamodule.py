"""The Lightning DataModule: a loaded dataset, its leave-one-out split and the loaders."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from genrec.data.batches import EvalDataset, PrefixDataset, SequenceWindowDataset, collate
from genrec.data.dataset import RecDataset
from genrec.data.sampler import LengthGroupedBatchSampler
from genrec.data.splits import leave_one_out
from genrec.distributed import world
from genrec.errors import DataError

TRAIN_FORMS = ("prefixes", "windows", "instructions")


class SequentialDataModule(pl.LightningDataModule):
    """Serves training examples in the form a model asks for (``prefixes``, SASRec
    ``windows``, or an LLM's ``instructions``, which the generator renders and hands over with
    ``use_training_examples``) and one validation / test example per user."""

    def __init__(
        self,
        dataset: RecDataset,
        max_history: int = 20,
        train_form: str = "prefixes",
        batch_size: int = 256,
        eval_batch_size: int = 512,
        num_workers: int = 0,
        seed: int = 0,
        val_users: int | None = None,
    ):
        super().__init__()
        if train_form not in TRAIN_FORMS:
            raise ValueError(f"train_form must be one of {TRAIN_FORMS}, got {train_form!r}")
        self.dataset = dataset
        self.split = leave_one_out(dataset.interactions, max_history)
        if len(self.split.valid) == 0:
            raise DataError(f"dataset {dataset.name!r}: no user has the 3 items leave-one-out needs (one to train "
                            "on, one to validate, one to test); every metric would be over 0 users. Check the "
                            "interaction file, or keep users with at least 3 items")
        self.train_form = train_form
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.val_users = val_users
        self._resume: tuple[int, int] | None = None  # (epoch, batches of it trained), from a checkpoint
        self._examples: Dataset | None = None  # train_form=instructions: the generator's rendered tasks

    def use_training_examples(self, examples: Dataset) -> None:
        """Train on ``examples`` (a dataset with ``lengths()``) instead of examples built here."""
        self._examples = examples

    @property
    def n_items(self) -> int:
        return self.dataset.n_items

    def train_dataset(self) -> Dataset:
        if self.train_form == "instructions":
            if self._examples is None:
                raise ValueError("train_form=instructions: the generator must hand its examples over "
                                 "(datamodule.use_training_examples)")
            return self._examples
        if self.train_form == "windows":
            return SequenceWindowDataset(self.split, self.n_items, self.split.max_history, self.seed)
        return PrefixDataset(self.split)

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        listeners = (dataset,) if hasattr(dataset, "set_epoch") else ()
        sampler = LengthGroupedBatchSampler(dataset.lengths(), batch_size, shuffle=shuffle, seed=self.seed,
                                            listeners=listeners, shard=self._shard())
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=partial(collate, pad_side="left"),
            persistent_workers=self.num_workers > 0,
            # its own generator: starting an iterator (every epoch and validation) must not draw from the
            # global RNG, whose state a checkpoint restores for dropout
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _shard(self) -> tuple[int, int]:
        """(rank, world size): Lightning's when a trainer runs this module, else torch.distributed's."""
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.world_size > 1:
            return trainer.global_rank, trainer.world_size
        return world()

    def train_dataloader(self) -> DataLoader:
        loader = self._loader(self.train_dataset(), self.batch_size, shuffle=True)
        if self._resume is not None:
            loader.batch_sampler.resume_at(*self._resume)
        return loader

    def state_dict(self) -> dict:
        """Where training stands in its epoch (saved in every Lightning checkpoint), so a resumed run
        skips the batches of that epoch it already trained on."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return {}
        return {"epoch": trainer.current_epoch,
                "batches_done": trainer.fit_loop.epoch_loop.batch_progress.current.processed}

    def load_state_dict(self, state: dict) -> None:
        self._resume = (state["epoch"], state["batches_done"]) if state else None

    def val_dataloader(self, full: bool = False) -> DataLoader:
        """Validation users; during training (``full=False``) a fixed seeded sample of
        ``val_users`` of them when set, which makes frequent checkpoint selection affordable
        for models that rank by beam search. Reports use ``full=True``."""
        dataset = EvalDataset(self.split.valid)
        if not full and self.val_users and self.val_users < len(dataset):
            chosen = np.sort(np.random.default_rng(self.seed).choice(len(dataset), self.val_users, replace=False))
            dataset = _EvalSubset(dataset, chosen)
        return self._loader(dataset, self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(EvalDataset(self.split.test), self.eval_batch_size, shuffle=False)


class _EvalSubset(Subset):
    """A subset of an ``EvalDataset`` that still answers ``lengths()`` (for length grouping)."""

    def lengths(self) -> np.ndarray:
        return self.dataset.lengths()[self.indices]
