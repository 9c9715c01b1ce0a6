"""Cold-start items, TIGER's way (Rajput et al., NeurIPS 2023, §4.3): hold a share of the test
items out of training.

``data.cold_start_share: 0.05`` draws, with ``data.cold_start_seed``, that share of the distinct
items that are some user's test target (the last item of a sequence long enough to be split).
Every interaction with a held-out item is removed except where it is a user's last item. So no
training sequence, validation target or history contains one, and the test users whose target is
one of them form the cold-start test set. The catalogue keeps every item: ids do not move, and
item text stays available (content is not interaction data, as in TIGER).

The dataset records the held-out ids (``RecDataset.cold_items``; they enter its fingerprint).
Evaluation reports ``test_cold`` (users whose target is held out) and ``test_warm`` beside the full
test set (genrec/training/pipeline.py). How a generator reaches items it never trained on is its
own business: TIGER's prefix-matching rule (genrec/evaluation/cold_start.py), STORE's text -> token
codes (genrec/llm/text_to_token.py).
"""

from __future__ import annotations

import numpy as np

from genrec.data.dataset import Interactions, RecDataset
from genrec.errors import ConfigError

MIN_SPLIT_LENGTH = 3  # sequences shorter than this stay whole in training (genrec/data/splits.py)


def hold_out_items(dataset: RecDataset, share: float, seed: int = 0) -> RecDataset:
    """``dataset`` with ``share`` of its test items held out of training (see the module docstring)."""
    if not 0.0 < share < 1.0:
        raise ConfigError(f"data.cold_start_share={share}: must be between 0 and 1 (TIGER: 0.05)")
    targets = np.unique([int(s[-1]) for s in dataset.interactions.sequences if len(s) >= MIN_SPLIT_LENGTH])
    count = max(1, int(round(share * len(targets))))
    cold = np.sort(np.random.default_rng(seed).choice(targets, count, replace=False))
    is_cold = np.zeros(dataset.n_items, dtype=bool)
    is_cold[cold] = True
    sequences = []
    for seq in dataset.interactions.sequences:
        if len(seq) == 0:
            sequences.append(seq)
            continue
        keep = ~is_cold[seq]
        # a held-out item stays only as a test target: at the end, after enough warm items to split
        keep[-1] = keep[-1] or int(keep[:-1].sum()) + 1 >= MIN_SPLIT_LENGTH
        sequences.append(seq[keep])
    interactions = Interactions(list(dataset.interactions.user_ids), sequences)
    return RecDataset(dataset.catalog, interactions, cold)


def cold_test_users(dataset: RecDataset, targets: np.ndarray) -> np.ndarray:
    """Boolean mask over test examples: True where the target is a held-out item."""
    if dataset.cold_items is None:
        return np.zeros(len(targets), dtype=bool)
    return np.isin(targets, dataset.cold_items)
