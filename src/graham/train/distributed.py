"""Data-parallel Siamese training (``torchrun --nproc_per_node=N``): DDP with gloo on the CPU
and nccl on GPUs, arranged so that N processes compute what one process computes.

Every process draws the same global batch (same seeds); process r embeds its contiguous
shard; the embeddings are gathered with gradients, so every process forms the same pairs from
the whole batch; BatchNorm statistics are reduced over all shards (:class:`GlobalBatchNorm2d`,
since torch's SyncBatchNorm runs only on GPUs). Gradients then equal the single-process ones
up to floating-point summation order.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ParameterError
from ..utils.ranks import world

__all__ = ["init_from_env", "GlobalBatchNorm2d", "convert_batchnorm", "gather_with_grad", "shard"]


def init_from_env(device: torch.device, *, timeout_s: float | None = None) -> torch.device:
    """Join the process group that ``torchrun`` describes in the environment (a no-op when
    ``WORLD_SIZE`` is 1 or unset, or when a group is up already); returns this process's
    device. ``timeout_s`` bounds how long a collective waits (torch's default: 30 min)."""
    if device.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return device
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                            timeout=timedelta(seconds=timeout_s) if timeout_s else None)
    return device


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch across processes
    (sum, sum of squares and count all-reduced with gradients). Identical to BatchNorm2d when
    not distributed. State dicts are interchangeable with BatchNorm2d's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, n_proc = world()
        if not self.training or n_proc == 1:
            return super().forward(x)
        import warnings

        from torch.distributed.nn.functional import all_reduce

        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum(dim=(0, 2, 3)), x.square().sum(dim=(0, 2, 3)), count])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            stats = all_reduce(stats)
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = stats[c:2 * c] / n - mean.square()
        assert self.running_mean is not None and self.running_var is not None and self.num_batches_tracked is not None
        with torch.no_grad():
            m = self.momentum if self.momentum is not None else 0.1
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
            self.num_batches_tracked.add_(1)
        y = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + self.eps)
        return y * self.weight[None, :, None, None] + self.bias[None, :, None, None]


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d of ``module`` by a :class:`GlobalBatchNorm2d` with the same
    parameters and buffers (in place; returns ``module``)."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            g = GlobalBatchNorm2d(child.num_features, eps=child.eps, momentum=child.momentum)
            g.load_state_dict(child.state_dict())
            g.to(child.weight.device)
            setattr(module, name, g)
        else:
            convert_batchnorm(child)
    return module


def shard(batch_size: int) -> slice:
    """This process's contiguous share of a global batch."""
    rank, n_proc = world()
    if batch_size % n_proc:
        raise ParameterError(f"the batch of {batch_size} clips does not split over {n_proc} processes")
    per = batch_size // n_proc
    return slice(rank * per, (rank + 1) * per)


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every process's ``x`` in rank order; gradients flow back to each owner."""
    _, n_proc = world()
    if n_proc == 1:
        return x
    import warnings

    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():  # deprecated in favour of a private API; still the autograd-aware gather
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(x))
