"""Batching: length-grouped batches, every process taking an equal, disjoint share of each epoch's
permutation (drawn from (seed, epoch) alike in every process), and the run's length in steps."""
import math
from typing import TYPE_CHECKING, Any, Iterator, List, Sequence, Tuple

import torch

from ..data import LengthGroupedBatches
from ..errors import NlpkitError

if TYPE_CHECKING:
    from accelerate import Accelerator

    from ..task import BertTask


class ShardedBatches(LengthGroupedBatches):
    """Length-grouped batches, every rank taking an equal, disjoint share; `skip`: batches of this
    epoch already trained (a resume point inside an epoch)."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 **kw: Any) -> None:
        super().__init__(lengths, batch_size, seed=seed, **kw)
        self.rank, self.world, self.skip = rank, world, 0

    def all_batches(self) -> List[List[int]]:
        batches = list(super().__iter__())
        per_rank = len(batches) // self.world if self.world > 1 else len(batches)
        return batches[self.rank : per_rank * self.world : self.world]

    def __iter__(self) -> Iterator[List[int]]:
        return iter(self.all_batches()[self.skip :])

    def __len__(self) -> int:
        n = super().__len__()
        return n // self.world if self.world > 1 else n


def make_loader(task: "BertTask", train_ds: Any, cfg: Any,
                accelerator: "Accelerator") -> Tuple[ShardedBatches, torch.utils.data.DataLoader]:
    """(sampler, loader) of this process's training batches, collated by the task."""
    tc = cfg.trainer
    sampler = ShardedBatches([task.length(f) for f in train_ds], tc.batch_size, seed=cfg.seed,
                             rank=accelerator.process_index, world=accelerator.num_processes,
                             group=tc.group_by_length)
    # a private generator: creating the loader's iterator must not draw from the global RNG (resume)
    loader = torch.utils.data.DataLoader(train_ds, batch_sampler=sampler, collate_fn=task.collate,
                                         generator=torch.Generator())
    return sampler, loader


def count_steps(batches_per_epoch: int, tc: Any, world: int) -> Tuple[int, int]:
    """(optimizer steps of the run, epochs to run)."""
    steps_per_epoch = math.ceil(batches_per_epoch / tc.grad_accum)
    if steps_per_epoch == 0:
        raise NlpkitError(f"too little training data for {world} processes")
    total = tc.max_steps or steps_per_epoch * tc.epochs
    return total, math.ceil(total / steps_per_epoch)
