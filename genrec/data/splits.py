"""Leave-one-out splits (the P5 / S3-Rec / TIGER / LC-Rec protocol).

For a user with chronological items ``s[0..n-1]``: ``s[n-1]`` is the test target,
``s[n-2]`` the validation target, and ``s[0..n-3]`` is the training part. Training
examples come from every prefix of the training part: history ``s[max(0,t-H):t]`` and
target ``s[t]`` for ``t = 1 .. n-3``. The validation history is the training part,
the test history adds the validation item; both keep only the last ``H`` items
(``max_history``). Users with fewer than 3 items have no validation / test example;
their whole sequence is training data (none exist in the 5-core benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genrec.data.dataset import Interactions


@dataclass
class EvalExamples:
    """One (history, target) per user; ``seen`` is the full prefix before the target."""

    users: np.ndarray
    histories: list[np.ndarray]
    targets: np.ndarray
    seen: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.targets)


@dataclass
class LeaveOneOut:
    train_sequences: list[np.ndarray]  # per user: the training part (all of it)
    valid: EvalExamples
    test: EvalExamples
    max_history: int

    def prefix_examples(self) -> tuple[np.ndarray, np.ndarray]:
        """Every training prefix as ``(user, t)`` pairs: history ``seq[max(0,t-H):t]``, target ``seq[t]``."""
        users, positions = [], []
        for user, seq in enumerate(self.train_sequences):
            t = np.arange(1, len(seq))
            users.append(np.full(len(t), user))
            positions.append(t)
        if not users:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(users).astype(np.int64), np.concatenate(positions).astype(np.int64)

    def history(self, user: int, t: int) -> np.ndarray:
        seq = self.train_sequences[user]
        return seq[max(0, t - self.max_history):t]


def leave_one_out(interactions: Interactions, max_history: int = 20) -> LeaveOneOut:
    if max_history < 1:
        raise ValueError("max_history must be at least 1")
    train, v_users, v_hist, v_tgt, v_seen, t_users, t_hist, t_tgt, t_seen = ([] for _ in range(9))
    for user, seq in enumerate(interactions.sequences):
        if len(seq) < 3:
            train.append(seq)
            continue
        train.append(seq[:-2])
        v_users.append(user)
        v_seen.append(seq[:-2])
        v_hist.append(seq[:-2][-max_history:])
        v_tgt.append(seq[-2])
        t_users.append(user)
        t_seen.append(seq[:-1])
        t_hist.append(seq[:-1][-max_history:])
        t_tgt.append(seq[-1])

    def examples(users, hist, tgt, seen) -> EvalExamples:
        return EvalExamples(np.asarray(users, np.int64), hist, np.asarray(tgt, np.int64), seen)

    return LeaveOneOut(
        train_sequences=train,
        valid=examples(v_users, v_hist, v_tgt, v_seen),
        test=examples(t_users, t_hist, t_tgt, t_seen),
        max_history=max_history,
    )
