"""A trained Siamese network's embedding of whole clips: the mean over windows of the training
crop length, as the network was trained, in memory of one batch of windows."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..nn.frozen import frozen
from ..nn.siamese import SiameseNet
from ..utils.devices import resolve_device
from .crops import MelCrops

__all__ = ["embed_clips"]


@torch.no_grad()
def embed_clips(model: SiameseNet, mels: Sequence[np.ndarray], *, crop_frames: int, hop: int | None = None,
                batch_size: int = 64, device: str | torch.device | None = None, progress: bool = False) -> np.ndarray:
    """128-d embedding of every clip [shape=(N, 128)]: the mean of the embeddings of its windows
    of ``crop_frames`` (the training crop length) with ``hop`` (default half a window), so a
    clip of any length is embedded as the network was trained, window by window.

    Windows are cut clip by clip and embedded ``batch_size`` at a time, each batch reduced into
    per-clip sums at once: memory holds one batch of windows, whatever the corpus size."""
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    model = model.to(dev).eval()
    crops = MelCrops(mels, crop_frames)
    backbone = frozen(model.backbone)  # the optimised CPU copy: the same numbers, about 2x faster
    hop = hop or max(1, crop_frames // 2)
    sums = torch.zeros(len(crops), model.embedding_dim, dtype=torch.float64)
    counts = torch.zeros(len(crops), dtype=torch.float64)
    pending: list[torch.Tensor] = []
    owners: list[torch.Tensor] = []

    def flush() -> None:
        x = torch.cat(pending)
        owner = torch.cat(owners)
        emb = backbone(x.to(dev)).cpu().double()
        sums.index_add_(0, owner, emb)
        counts.index_add_(0, owner, torch.ones(len(owner), dtype=torch.float64))
        pending.clear()
        owners.clear()

    it = range(len(crops))
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="embed", unit="clip")
    queued = 0
    for i in it:
        w = crops.windows(i, hop)
        pending.append(w)
        owners.append(torch.full((len(w),), i, dtype=torch.long))
        queued += len(w)
        if queued >= batch_size:
            flush()
            queued = 0
    if pending:
        flush()
    return (sums / counts.clamp_min(1).unsqueeze(1)).float().numpy()
