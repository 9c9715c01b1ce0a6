"""Scale-out on 2 CPU processes (gloo): DDP training and evaluation run, and sharded evaluation of a
fixed model counts every user once and gives exactly the single-process metrics."""

import sys

import pytest
import torch
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

from ddp import ddp_check  # noqa: E402

from genrec.data.sampler import LengthGroupedBatchSampler  # noqa: E402
from genrec.distributed import gather_in_user_order, shard  # noqa: E402


def test_shards_cover_every_user_once_and_training_ranks_take_equal_steps():
    lengths = [3, 1, 4, 1, 5, 9, 2, 6, 5]
    evaluation = [LengthGroupedBatchSampler(lengths, 2, shuffle=False, shard=(r, 2)) for r in range(2)]
    users = sorted(u for sampler in evaluation for batch in sampler for u in batch)
    assert users == list(range(9)) and [len(list(s)) for s in evaluation] == [len(s) for s in evaluation]
    training = [LengthGroupedBatchSampler(lengths, 2, shuffle=True, seed=1, shard=(r, 2)) for r in range(2)]
    batches = [list(s) for s in training]
    assert len(batches[0]) == len(batches[1]) == 2  # 5 batches: one left over, DDP needs equal steps
    assert shard(list(range(7)), 1, 3, equal=True) == [1, 4]


def test_gathered_ranks_come_back_in_user_order():
    assert gather_in_user_order(torch.tensor([5, 1, 3]), torch.tensor([50, 10, 30])).tolist() == [10, 30, 50]


@pytest.mark.slow
def test_ddp_training_runs_and_sharded_evaluation_equals_one_process(tmp_path):
    result = ddp_check(tmp_path, steps=20)
    assert result["ddp_training"]["steps"] == 20 and result["ddp_training"]["test_users"] == 400
    assert result["two_processes"]["users"] == result["single_process"]["users"] == 400
    assert result["identical_metrics"]
