"""Which process of a ``torchrun`` group this is, and waiting for the others: the two things
every layer needs (the store below ``train/``, training above it), kept below them all."""

from __future__ import annotations

__all__ = ["world", "barrier"]


def world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group; (0, 1) when not distributed."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    """Wait for every process of the group (a no-op when not distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
