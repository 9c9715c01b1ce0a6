"""Batches of similar-length histories, so padding to the batch's longest is cheap.

Amazon histories are short (mean ~9 items) with a long tail (up to 550); random
batches pad most rows to the tail. Each epoch this sampler shuffles all examples,
cuts them into pools of ``pool_batches * batch_size``, sorts each pool by length,
cuts it into batches and shuffles the batch order. Every example is still seen
exactly once per epoch; only which examples share a batch changes.

An epoch's order is a pure function of ``(seed, epoch)``: Lightning calls ``set_epoch``
at every epoch start, and a run resumed in the middle of an epoch skips the batches it
already trained on (``resume_at``), so it sees exactly the batches an uninterrupted run
would. Objects in ``listeners`` (a dataset that draws negatives per epoch) hear the epoch too.
Under several processes each takes its ``shard`` (``genrec/distributed.py``) of the batches.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler

from genrec.distributed import shard


class LengthGroupedBatchSampler(Sampler[list[int]]):
    def __init__(self, lengths, batch_size: int, shuffle: bool = True, seed: int = 0, pool_batches: int = 50,
                 listeners: tuple = (), shard: tuple[int, int] = (0, 1)):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool = pool_batches * batch_size
        self.epoch = 0
        self.listeners = listeners
        self._resume: tuple[int, int] | None = None  # (epoch, batches of it already trained)
        self.rank, self.world_size = shard

    def __len__(self) -> int:
        batches = (len(self.lengths) + self.batch_size - 1) // self.batch_size
        if self.world_size <= 1:
            return batches
        if self.shuffle:  # training: equal counts per rank
            return batches // self.world_size
        mine = len(range(self.rank, len(self.lengths), self.world_size))
        return (mine + self.batch_size - 1) // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        for listener in self.listeners:
            listener.set_epoch(epoch)

    def resume_at(self, epoch: int, batches_done: int) -> None:
        """The next pass over ``epoch`` starts after its first ``batches_done`` batches."""
        self._resume = (epoch, batches_done)

    def __iter__(self):
        if not self.shuffle:  # evaluation: one deterministic pass, shortest first
            order = shard(np.argsort(self.lengths, kind="stable"), self.rank, self.world_size, equal=False)
            yield from (order[i:i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size))
            return
        epoch = self.epoch
        self.set_epoch(epoch)
        self.epoch += 1  # without Lightning's set_epoch, consecutive passes are consecutive epochs
        skip = 0
        if self._resume is not None and self._resume[0] == epoch:
            skip, self._resume = self._resume[1], None
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths))
        batches = []
        for start in range(0, len(order), self.pool):
            pool = order[start:start + self.pool]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batches.extend(pool[i:i + self.batch_size] for i in range(0, len(pool), self.batch_size))
        ordered = [batches[i] for i in rng.permutation(len(batches))]
        for batch in shard(ordered, self.rank, self.world_size, equal=True)[skip:]:
            yield batch.tolist()
