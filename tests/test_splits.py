"""Leave-one-out: exact targets, no leakage, every training prefix."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.data.batches import PrefixDataset, SequenceWindowDataset, collate, pad_sequences
from genrec.data.dataset import Interactions
from genrec.data.splits import leave_one_out

sequences = st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=25), min_size=1, max_size=20)


@given(sequences, st.integers(1, 8))
@settings(max_examples=100, deadline=None)
def test_no_leakage(seqs, max_history):
    # items are made unique within a user, as in the 5-core benchmarks
    seqs = [list(dict.fromkeys(s)) for s in seqs]
    split = leave_one_out(Interactions([str(i) for i in range(len(seqs))], seqs), max_history)
    valid_by_user = dict(zip(split.valid.users, split.valid.targets))
    test_by_user = dict(zip(split.test.users, split.test.targets))
    for user, seq in enumerate(seqs):
        if len(seq) >= 3:
            assert valid_by_user[user] == seq[-2] and test_by_user[user] == seq[-1]
    dataset = PrefixDataset(split)
    for index in range(len(dataset)):
        example = dataset[index]
        user, history, target = example["user"], list(example["history"]), example["target"]
        seq = seqs[user]
        t = seq.index(target)
        # never a validation or test target of this user as a training target
        assert target != valid_by_user.get(user, -1) and target != test_by_user.get(user, -1)
        # the history is the (truncated) past: nothing at or after the target
        assert history == seq[max(0, t - max_history):t]
        assert 1 <= len(history) <= max_history
    for examples, offset in ((split.valid, 2), (split.test, 1)):
        for user, history, target in zip(examples.users, examples.histories, examples.targets):
            seq = seqs[user]
            assert list(history) == seq[: len(seq) - offset][-max_history:]
            assert target not in history


@given(sequences, st.integers(1, 8), st.data())
@settings(max_examples=100, deadline=None)
def test_batched_prefixes_equal_collated_examples(seqs, max_history, data):
    split = leave_one_out(Interactions([str(i) for i in range(len(seqs))], seqs), max_history)
    dataset = PrefixDataset(split)
    if len(dataset) == 0:
        return
    indices = data.draw(st.lists(st.integers(0, len(dataset) - 1), min_size=1, max_size=12))
    batched = dataset.__getitems__(indices)
    expected = collate([dataset[i] for i in indices])
    assert set(batched) == set(expected)
    for key in expected:
        assert batched[key].dtype == expected[key].dtype and batched[key].tolist() == expected[key].tolist(), key


def test_every_prefix_is_an_example():
    split = leave_one_out(Interactions(["u"], [[5, 6, 7, 8, 9, 10]]), max_history=2)
    dataset = PrefixDataset(split)
    pairs = [(list(dataset[i]["history"]), dataset[i]["target"]) for i in range(len(dataset))]
    assert pairs == [([5], 6), ([5, 6], 7), ([6, 7], 8)]  # train part 5..8; 9 valid, 10 test


def test_short_users_only_train():
    split = leave_one_out(Interactions(["a", "b"], [[1, 2], [1, 2, 3]]), 5)
    assert list(split.valid.users) == [1] and list(split.test.users) == [1]
    assert [list(s) for s in split.train_sequences] == [[1, 2], [1]]


def test_padding_left_and_right():
    padded = pad_sequences([np.array([1, 2, 3]), np.array([4])], side="left")
    assert padded.tolist() == [[1, 2, 3], [-1, -1, 4]]
    assert pad_sequences([np.array([1, 2, 3])], length=2, side="right").tolist() == [[2, 3]]


def test_sasrec_windows_and_negatives_avoid_seen_items():
    split = leave_one_out(Interactions(["u"], [[0, 1, 2, 3, 4, 5, 6]]), max_history=3)
    dataset = SequenceWindowDataset(split, n_items=50, max_len=3, seed=0)
    example = dataset[0]
    assert list(example["history"]) == [1, 2, 3] and list(example["target_seq"]) == [2, 3, 4]
    for _ in range(50):
        assert not set(dataset[0]["negative_seq"]) & {0, 1, 2, 3, 4}
    batch = collate([example, example])
    assert batch["history"].shape == (2, 3)
