"""The Siamese network of GrahAM: a shared branch phi (Xception) and the pair head Lambda.

For embeddings ``f_i = phi(x_i)``, ``f_j = phi(x_j)`` the head sees (paper, eq. 1-2)
``x_ij = concat(f_i, f_j, (f_i - f_j)^2, f_i * f_j)`` and returns one logit for "same genre",
so ``s_ij = sigmoid(Lambda(phi(x_i), phi(x_j)))``.
"""

from __future__ import annotations

import torch
from torch import nn

from .xception import Xception, XceptionConfig

__all__ = ["pair_features", "PairHead", "SiameseNet"]


def pair_features(f_i: torch.Tensor, f_j: torch.Tensor) -> torch.Tensor:
    """Eq. 1-2: ``concat(f_i, f_j, (f_i - f_j)^2, f_i * f_j)`` [shape=(..., 4 d)]."""
    return torch.cat([f_i, f_j, (f_i - f_j).square(), f_i * f_j], dim=-1)


class PairHead(nn.Module):
    """Lambda: pair features -> MLP -> one "same genre" logit per pair."""

    def __init__(self, dim: int = 128, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4 * dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, f_i: torch.Tensor, f_j: torch.Tensor) -> torch.Tensor:
        return self.net(pair_features(f_i, f_j)).squeeze(-1)


class SiameseNet(nn.Module):
    """phi and Lambda together. ``embed`` runs phi once per clip; ``pair_logits`` scores pairs
    of already computed embeddings by index, so a batch of B clips yields up to B(B-1)/2
    pairs for B backbone passes (never two passes for one clip)."""

    def __init__(self, backbone: XceptionConfig | None = None, *, head_hidden: int = 128, head_dropout: float = 0.1) -> None:
        super().__init__()
        self.backbone = Xception(backbone)
        self.head = PairHead(self.backbone.embedding_dim, head_hidden, head_dropout)

    @property
    def embedding_dim(self) -> int:
        return self.backbone.embedding_dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Spectrograms [shape=(B, n_mels, frames)] -> embeddings [shape=(B, 128)]."""
        return self.backbone(x)

    def pair_logits(self, emb: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """Logits of pairs (emb[i], emb[j]) [shape=(P,)]."""
        return self.head(emb[i], emb[j])

    def similarity(self, x_i: torch.Tensor, x_j: torch.Tensor) -> torch.Tensor:
        """s_ij in (0, 1) for two batches of spectrograms."""
        return torch.sigmoid(self.head(self.embed(x_i), self.embed(x_j)))
