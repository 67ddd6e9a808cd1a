"""A CPU inference copy of the backbone: traced, frozen and optimised for oneDNN.

``torch.jit.freeze`` and ``optimize_for_inference`` fold BatchNorm into the convolutions, fuse
convolution with ReLU and add, and pack the weights once in oneDNN's blocked layout instead of
at every call. On 2 AVX2 cores this halves the backbone's time over a 30-s clip's 19 windows
(the cpu preset: 42 -> 18-21 ms; ``benchmarks/README.md``), with the same numbers up to float
rounding (tested against the module itself). Folding BatchNorm alone gave nothing: the gain is
the packed weights and fused kernels. Used only for inference without gradients; Grad-CAM++
and training use the module.
"""

from __future__ import annotations

import logging
import threading
import warnings
import weakref
from typing import Callable

import torch
from torch import nn

__all__ = ["FrozenBackbone", "frozen"]

log = logging.getLogger(__name__)


class FrozenBackbone:
    """``backbone(x)`` for spectrogram batches [shape=(B, n_mels, frames)]: the optimised copy
    on the CPU in eval mode without gradients, the module itself otherwise, or when tracing
    fails (logged). A copy is built on first use (under a second), once per input shape past
    the batch, and rebuilt when the module's weights have changed since (an optimiser step or
    ``load_state_dict`` bumps the tensors' version counters)."""

    def __init__(self, backbone: nn.Module) -> None:
        self.backbone = backbone
        self._copies: dict[tuple, Callable] = {}
        self._versions: tuple = ()
        self._lock = threading.Lock()

    def _weights_version(self) -> tuple:
        return tuple((id(t), t._version) for t in self.backbone.state_dict(keep_vars=True).values())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or torch.is_grad_enabled() or self.backbone.training:
            return self.backbone(x)
        key = (x.dim(), *x.shape[1:], x.dtype)
        version = self._weights_version()
        with self._lock:
            if version != self._versions:
                self._copies, self._versions = {}, version
            fn = self._copies.get(key)
            if fn is None:
                fn = self._copies[key] = self._build(x)
        return fn(x)

    def _build(self, x: torch.Tensor) -> Callable:
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the tracer's notes on shape checks it records as constants
                traced = torch.jit.trace(self.backbone, x[:1].clone())
                return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
        except Exception as exc:  # an unusual module the tracer cannot follow: the module still works
            log.info("backbone runs unoptimised: tracing failed (%s)", exc)
            return self.backbone


_CACHE: "weakref.WeakKeyDictionary[nn.Module, FrozenBackbone]" = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def frozen(backbone: nn.Module) -> FrozenBackbone:
    """The :class:`FrozenBackbone` of ``backbone``, one per module for as long as it lives, so
    repeated calls (one per shard of a store) build the optimised copy once."""
    with _CACHE_LOCK:
        fb = _CACHE.get(backbone)
        if fb is None:
            fb = _CACHE[backbone] = FrozenBackbone(backbone)
        return fb
