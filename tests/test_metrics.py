"""Recall@K / NDCG@K against hand-computed values, ties included."""

import math

import pytest
import torch

from genrec.evaluation.metrics import RankMetrics, list_ranks, metrics_from_ranks, target_ranks


def test_hand_computed_ranks_and_metrics():
    scores = torch.tensor([
        [0.9, 0.1, 0.5, 0.3],   # target 2: one item above -> rank 1
        [0.2, 0.2, 0.2, 0.2],   # target 0: all tie -> placed after the 3 others -> rank 3
        [0.1, 0.8, 0.8, 0.0],   # target 1: ties with item 2 -> rank 1
        [0.7, 0.1, 0.2, 0.3],   # target 0: first -> rank 0
    ])
    targets = torch.tensor([2, 0, 1, 0])
    ranks = target_ranks(scores, targets)
    assert ranks.tolist() == [1, 3, 1, 0]
    m = metrics_from_ranks(ranks, ks=(1, 2, 3))
    assert m["recall@1"] == pytest.approx(1 / 4)
    assert m["recall@2"] == pytest.approx(3 / 4)
    assert m["ndcg@1"] == pytest.approx(1 / 4)
    assert m["ndcg@2"] == pytest.approx((1 + 2 / math.log2(3)) / 4)
    assert m["ndcg@3"] == pytest.approx((1 + 2 / math.log2(3)) / 4)  # rank 3 is outside @3


def test_excluded_target_never_counts():
    scores = torch.tensor([[0.5, float("-inf"), 0.1]])
    assert math.isinf(target_ranks(scores, torch.tensor([1])).item())


def test_list_ranks_for_generated_lists():
    recommended = torch.tensor([[4, 2, 9], [1, 3, 5]])
    ranks = list_ranks(recommended, torch.tensor([9, 7]))
    assert ranks[0] == 2 and math.isinf(ranks[1])
    m = metrics_from_ranks(ranks, ks=(3,))
    assert m["recall@3"] == 0.5 and m["ndcg@3"] == pytest.approx(0.5 / math.log2(4))


def test_torchmetrics_accumulator_equals_one_shot():
    ranks = torch.tensor([0.0, 4.0, 30.0, 9.0, float("inf")])
    metric = RankMetrics(ks=(5, 10))
    metric.update(ranks[:2])
    metric.update(ranks[2:])
    assert metric.compute() == metrics_from_ranks(ranks, ks=(5, 10))
