"""Keep the console to what a user acts on: no Lightning banners, tips or model summaries.

Lightning announces accelerators, seeds and cloud-logging tips at INFO level and warns about
things genrec does on purpose (a run folder that already holds the run's config, loaders with
no workers, a mid-epoch resume: ``SequentialDataModule`` saves and restores its batch sampler's
place in the epoch itself, which Lightning's check of the DataLoader cannot see; the kill -9
drill in tests/test_faults.py shows the resumed weights equal the uninterrupted run's). Those
go; every warning about the user's own setup stays.
"""

from __future__ import annotations

import logging
import warnings

NOISE = (
    r"Checkpoint directory .* exists and is not empty",
    r".*does not have many workers.*",
    r".*isinstance\(treespec, LeafSpec\).*",
    r".*The number of training batches .* is smaller than the logging interval.*",
    r".*`Trainer.fit` stopped.*",
    r".*resuming from a checkpoint that ended before the epoch ended and your dataloader is not resumable.*",
)


def quiet_libraries() -> None:
    import lightning_fabric  # noqa: F401  (both set their loggers to INFO when imported: import first)
    import pytorch_lightning  # noqa: F401

    for name in ("pytorch_lightning", "lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in NOISE:
        warnings.filterwarnings("ignore", message=pattern)
