"""What a node of GrahAM's graph holds, in one place for training, ``experiment``, the bundle and
prediction, so that serving reads a clip exactly as training did: the clip's Siamese embedding
and, when the GNN reads them (``GNNConfig.band_statistics``), the clip's log-mel band
statistics beside it; the GNN sees them standardised with the mean and scale it trained with.
Every function takes numpy arrays or torch tensors and returns the same kind."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..audio.bandstats import mel_band_statistics

__all__ = ["node_features", "clip_node_features", "standardise"]


def node_features(embeddings, stats=None):
    """[embedding, band statistics] per node [shape=(N, d + s)]; ``stats`` None: the embedding
    alone. ``stats`` of shape (s,) is every node's (the windows of one clip share their clip's)."""
    if stats is None:
        return embeddings
    if isinstance(embeddings, torch.Tensor):
        stats = torch.as_tensor(stats, dtype=embeddings.dtype, device=embeddings.device)
        return torch.cat([embeddings, stats.expand(embeddings.shape[0], -1)], dim=1)
    stats = np.asarray(stats, dtype=np.float32)
    return np.concatenate([embeddings, np.broadcast_to(stats, (len(embeddings), stats.shape[-1]))], axis=1)


def clip_node_features(embeddings: np.ndarray, mels: Sequence[np.ndarray], band_statistics: bool) -> np.ndarray:
    """The node features of clips [shape=(N, d[ + 3 n_mels])] from their embeddings and log-mels."""
    return node_features(embeddings, mel_band_statistics(mels) if band_statistics else None)


def standardise(x, mean, scale):
    """``(x - mean) / scale``: node features as the GNN reads them."""
    if isinstance(x, torch.Tensor):
        return (x - torch.as_tensor(mean, dtype=x.dtype, device=x.device)) / torch.as_tensor(scale, dtype=x.dtype,
                                                                                                device=x.device)
    return (x - mean) / scale
