"""Keep the console to what a user acts on: no Lightning banners, tips or model summaries.

Lightning announces accelerators, seeds and cloud-logging tips at INFO level and warns about
things genrec does on purpose (a run folder that already holds the run's config, loaders with
no workers, a mid-epoch resume: ``SequentialDataModule`` saves and restores its batch sampler's
place in the epoch itself, which Lightning's check of the DataLoader cannot see; the kill -9
drill in tests/test_faults.py shows the resumed weights equal the uninterrupted run's), and
transformers' notice that new token rows are drawn around the old rows' mean (what
``generator.code_token_init: mean`` asks for). Those go; every warning about the user's own setup
stays.
"""

from __future__ import annotations

import logging
import re
import warnings

NOISE = (
    r"Checkpoint directory .* exists and is not empty",
    r".*does not have many workers.*",
    r".*isinstance\(treespec, LeafSpec\).*",
    r".*The number of training batches .* is smaller than the logging interval.*",
    r".*`Trainer.fit` stopped.*",
    r".*resuming from a checkpoint that ended before the epoch ended and your dataloader is not resumable.*",
)
# logger -> what genrec does on purpose that it announces (genrec.llm.code_tokens.resize_for_codes)
LOGGED_NOISE = {"transformers.modeling_utils": r"^The new (embeddings|lm_head weights) will be initialized from a "
                                                r"multivariate normal distribution"}


class DropNotice(logging.Filter):
    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


def quiet_libraries() -> None:
    import lightning_fabric  # noqa: F401  (both set their loggers to INFO when imported: import first)
    import pytorch_lightning  # noqa: F401

    for name in ("pytorch_lightning", "lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    for name, pattern in LOGGED_NOISE.items():  # the logger transformers will use: no transformers import here
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropNotice) and f.pattern.pattern == pattern for f in logger.filters):
            logger.addFilter(DropNotice(pattern))
