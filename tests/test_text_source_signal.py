"""bench/text_source_signal.py's two measures against hand-computed values: the text-neighbour
recommender and the lift of shared code prefixes along training sequences."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import text_source_signal  # noqa: E402

from genrec.data.splits import EvalExamples  # noqa: E402


def test_text_neighbours_ranks_by_cosine_to_the_last_item_without_seen_items():
    # items 0 and 1 point one way, 2 and 3 another; item 1 is nearer to 0 than item 3 is to 2
    vectors = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.5, 0.5]])
    test = EvalExamples(
        users=np.array([0, 1]),
        histories=[np.array([2, 0]), np.array([2])],
        targets=np.array([1, 0]),
        seen=[np.array([2, 0]), np.array([2])],
    )
    metrics = text_source_signal.text_neighbours(vectors, test, batch=1)
    # user 0: item 1 is item 0's nearest unseen item, rank 0 (NDCG 1); user 1: from item 2, item 3
    # (cos .71) and item 1 (cos .11) come before item 0 (cos 0), rank 2 (NDCG 1/log2(4) = .5)
    assert metrics["recall@10"] == pytest.approx(1.0)
    assert metrics["ndcg@10"] == pytest.approx((1.0 + 0.5) / 2, abs=1e-4)


def test_transition_lift_counts_shared_prefixes_against_popularity_chance():
    codes = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    sequences = [np.array([0, 1, 2]), np.array([3, 2])]  # pairs (0,1), (1,2), (3,2)
    first, both = text_source_signal.transition_lift(codes, sequences, levels=2)
    # first code: (0,0) shared, (0,1) not, (1,1) shared -> 2/3. Sources' first codes: 0,0,1;
    # targets': 0,1,1 -> chance 2/3*1/3 + 1/3*2/3 = 4/9, lift 1.5
    assert first["same_prefix"] == pytest.approx(2 / 3, abs=1e-4)
    assert first["chance"] == pytest.approx(4 / 9, abs=1e-4)
    assert first["lift"] == 1.5
    # both codes: every pair differs; of the targets' prefixes only (0,1) is a source's -> 1/3 * 1/3
    assert both["same_prefix"] == 0.0
    assert both["chance"] == pytest.approx(1 / 9, abs=1e-4) and both["lift"] == 0.0
