"""Cold start, TIGER's protocol: held-out items never reach training; the prefix-matching rule
inserts them by code prefix under the epsilon cap; per-group test metrics."""

import numpy as np
import torch

from genrec.data import Catalog, Interactions, RecDataset
from genrec.data.cold_start import cold_test_users, hold_out_items
from genrec.data.splits import leave_one_out
from genrec.evaluation.cold_start import PrefixMatchRule


def dataset(n_items=20, n_users=60, seed=0):
    rng = np.random.default_rng(seed)
    sequences = [rng.choice(n_items, size=int(rng.integers(2, 9)), replace=False) for _ in range(n_users)]
    catalog = Catalog("toy", [str(i) for i in range(n_items)], {"title": [f"item {i}" for i in range(n_items)]})
    return RecDataset(catalog, Interactions([str(u) for u in range(n_users)], sequences))


def test_held_out_items_appear_only_as_test_targets():
    original = dataset()
    held = hold_out_items(original, 0.25, seed=1)
    cold = set(held.cold_items.tolist())
    targets = {int(s[-1]) for s in original.interactions.sequences if len(s) >= 3}
    assert cold <= targets and len(cold) == round(0.25 * len(targets))
    split = leave_one_out(held.interactions, max_history=20)
    assert not any(cold & set(seq.tolist()) for seq in split.train_sequences)
    assert not cold & set(split.valid.targets.tolist())
    assert not any(cold & set(h.tolist()) for h in split.test.histories)
    mask = cold_test_users(held, split.test.targets)
    assert mask.sum() > 0 and set(split.test.targets[mask].tolist()) <= cold
    # every user keeps its warm items in order; a held-out last item stays only with 2+ warm items before it
    for before, after in zip(original.interactions.sequences, held.interactions.sequences):
        warm = [i for i in before.tolist() if i not in cold]
        assert after.tolist() in (warm, warm + [int(before[-1])])
        if after.tolist() and after[-1] in cold:
            assert len(after) >= 3
    assert held.fingerprint() != original.fingerprint()
    assert hold_out_items(original, 0.25, seed=1).fingerprint() == held.fingerprint()


def test_prefix_rule_inserts_held_out_items_after_their_match_under_the_cap():
    codes = torch.tensor([[0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1]])
    rule = PrefixMatchRule(codes, [2, 2, 2], cold_items=np.array([3, 4, 5]), epsilon=0.5)
    assert rule.warm_items.tolist() == [0, 1, 2]
    # warm positions 2, 0, 1 = items 2, 0, 1; item 4 shares item 2's prefix (1, 0), 3 shares 0's, 5 shares 1's
    merged = rule.merge(torch.tensor([[2, 0, 1]]), top_k=4)
    assert merged.tolist() == [[2, 4, 0, 3]]  # floor(0.5 * 4) = 2 held-out items at most
    strict = PrefixMatchRule(codes, [2, 2, 2], cold_items=np.array([3, 4, 5]), epsilon=0.0)
    assert strict.merge(torch.tensor([[2, 0, 1]]), top_k=3).tolist() == [[2, 0, 1]]
    # exclusions are translated to warm positions; held-out or padding ids give -1
    assert rule.warm_exclusions(torch.tensor([[1, 4, -1]])).tolist() == [[1, -1, -1]]
