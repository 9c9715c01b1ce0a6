"""Which process this is when a run is spread over several (Lightning's DDP / FSDP / DeepSpeed, or
``torchrun`` for evaluation), and how their evaluation shards come back together.

Training shards whole batches, ``batches[rank::world]``, the same number on every rank (the
few left over at an epoch's end are dropped, as DDP needs equal steps); evaluation shards users,
``users[rank::world]`` of the length-sorted order, and pads nothing, so every user is counted
exactly once. Each rank's target
ranks travel with their user ids and are put back in user order before metrics are computed,
so sharded metrics equal single-process metrics exactly.
"""

from __future__ import annotations

import os

import torch


def world() -> tuple[int, int]:
    """``(rank, world size)`` of this process: torch.distributed's once initialised, else the
    launcher's environment (a Lightning-launched or torchrun worker before initialisation)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0) or 0), int(os.environ.get("WORLD_SIZE", 1) or 1)


def is_main_process() -> bool:
    """Rank 0: the process that writes files (config, reports, plots) and holds the run lock.
    Lightning's launcher marks its other processes with LOCAL_RANK / NODE_RANK before they start."""
    local = int(os.environ.get("LOCAL_RANK", 0) or 0)
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0)) or 0)
    return world()[0] == 0 and local == 0 and node == 0


def init_from_environment() -> bool:
    """Join the process group a launcher such as ``torchrun`` describes (WORLD_SIZE > 1): gloo on
    CPUs, nccl on GPUs. True when this process is part of a group."""
    if int(os.environ.get("WORLD_SIZE", 1) or 1) <= 1 or not torch.distributed.is_available():
        return False
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return True


def shard(items, rank: int, size: int, equal: bool):
    """This rank's part of ``items`` (batches or users); ``equal``: every rank gets the same count."""
    if size <= 1:
        return items
    if equal:
        items = items[: len(items) // size * size]
    return items[rank::size]


def gather_in_user_order(users: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Every rank's ``values`` (one per user), in ascending user order, on every rank."""
    if world()[1] <= 1 or not torch.distributed.is_initialized():
        return values[users.argsort(stable=True)]
    parts = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, (users.cpu(), values.cpu()))
    all_users = torch.cat([u for u, _ in parts])
    all_values = torch.cat([v for _, v in parts])
    return all_values[all_users.argsort(stable=True)]
