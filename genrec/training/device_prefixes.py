"""Training prefixes held on the device, served as static-shape batches (the GPU fast path's data).

The concatenated training sequences, each user's start offset and the ``(user, t)`` index of
every prefix live on the device, so a batch is one gather there: no DataLoader, no workers, no
host-to-device copy per step. Shapes are static, as CUDA graph capture needs:

* every batch has exactly ``batch_size`` rows; an epoch's last, short batch is filled with
  weight-0 rows (copies of its first example; the models' losses skip them);
* a batch's history width is the smallest of a few ``buckets`` (history lengths in items)
  that holds its longest history, so a handful of shapes covers every batch.

An epoch's plan is a pure function of ``(seed, epoch)``: shuffle every example, cut the order
into pools of ``pool_batches`` batches, sort each pool by history length, cut it into batches
and shuffle the batch order (as ``LengthGroupedBatchSampler`` does). Every example is seen
exactly once per epoch, and a run resumed at ``(epoch, batch)`` continues with the very batches
an uninterrupted run would have drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genrec.data.batches import PAD
from genrec.data.splits import LeaveOneOut


def default_buckets(max_history: int) -> list[int]:
    """Four widths, each about twice the last, ending at ``max_history`` (20 -> 3, 5, 10, 20)."""
    widths = {max_history}
    width = max_history
    while len(widths) < 4 and width > 1:
        width = -(-width // 2)  # halved, rounded up
        widths.add(width)
    return sorted(widths)


@dataclass
class EpochPlan:
    indices: torch.Tensor  # [n_batches, batch_size] example indices (on the device)
    weights: torch.Tensor  # [n_batches, batch_size] 1 for a real example, 0 for a filler row
    widths: list[int]  # per batch, its bucket width (host-side: it picks the captured graph)
    sizes: list[int]  # per batch, its real (weight-1) examples

    def __len__(self) -> int:
        return len(self.widths)


class DevicePrefixes:
    def __init__(self, split: LeaveOneOut, device, buckets: list[int] | None = None):
        self.max_history = split.max_history
        self.buckets = sorted(set(buckets or default_buckets(self.max_history)))
        if self.buckets[-1] < self.max_history or self.buckets[0] < 1:
            raise ValueError(f"trainer.length_buckets {self.buckets} must be >= 1 and reach data.max_history "
                             f"({self.max_history})")
        users, positions = split.prefix_examples()
        if len(users) == 0:
            raise ValueError("no training prefixes: every user has fewer than 2 training items")
        lengths = np.array([len(s) for s in split.train_sequences], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self.history_lengths = np.minimum(positions, self.max_history)  # host copy: plans sort by it
        self.device = torch.device(device)
        self.items = torch.from_numpy(np.concatenate(split.train_sequences).astype(np.int64)).to(self.device)
        self.starts = torch.from_numpy(starts).to(self.device)
        self.users = torch.from_numpy(users).to(self.device)
        self.positions = torch.from_numpy(positions).to(self.device)

    def __len__(self) -> int:
        return len(self.history_lengths)

    def bucket_of(self, length: int) -> int:
        return next(b for b in self.buckets if b >= length)

    def batches_per_epoch(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def plan(self, seed: int, epoch: int, batch_size: int, pool_batches: int = 50) -> EpochPlan:
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(self))
        pool = pool_batches * batch_size
        batches = []
        for start in range(0, len(order), pool):
            part = order[start:start + pool]
            part = part[np.argsort(self.history_lengths[part], kind="stable")]
            batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
        batches = [batches[i] for i in rng.permutation(len(batches))]
        indices = np.zeros((len(batches), batch_size), dtype=np.int64)
        weights = np.zeros((len(batches), batch_size), dtype=np.float32)
        widths, sizes = [], []
        for row, batch in enumerate(batches):
            indices[row, :len(batch)] = batch
            indices[row, len(batch):] = batch[0]  # filler rows repeat the batch's first example ...
            weights[row, :len(batch)] = 1.0  # ... at weight 0
            widths.append(self.bucket_of(int(self.history_lengths[batch].max())))
            sizes.append(len(batch))
        return EpochPlan(torch.from_numpy(indices).to(self.device), torch.from_numpy(weights).to(self.device),
                         widths, sizes)

    def gather(self, index: torch.Tensor, width: int) -> dict[str, torch.Tensor]:
        """``{"user", "history" [B, width] left-padded with PAD, "target"}`` for example indices
        ``index`` (all device ops, no host sync: safe inside a CUDA graph)."""
        users, t = self.users[index], self.positions[index]
        kept = t.clamp(max=self.max_history)
        end = self.starts[users] + t  # the target's position in the concatenated sequences
        column = torch.arange(width, device=index.device)
        source = end[:, None] - width + column  # right-aligned: the last column is t - 1
        present = column >= width - kept[:, None]
        history = torch.where(present, self.items[source.clamp(min=0)], PAD)
        return {"user": users, "history": history, "target": self.items[end]}
