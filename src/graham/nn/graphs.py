"""Graphs over clip embeddings: complete (the paper's; handled implicitly by the fast path) or
k-nearest neighbours by cosine similarity for very large corpora, built in plain torch in
chunks (PyG's ``knn_graph`` needs pyg-lib, which these machines cannot install)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ParameterError

__all__ = ["knn_graph", "siamese_edge_weights"]


def knn_graph(x: torch.Tensor, k: int, *, chunk: int = 4096, self_loops: bool = False) -> torch.Tensor:
    """Edges j -> i from each node's ``k`` most cosine-similar nodes [shape=(2, N k)], PyG layout
    (row 0 source j, row 1 target i). Memory O(chunk N)."""
    n = x.shape[0]
    if not 1 <= k <= n - (0 if self_loops else 1):
        raise ParameterError(f"k must be in [1, {n - (0 if self_loops else 1)}], got {k}")
    z = F.normalize(x, dim=1)
    src, dst = [], []
    for start in range(0, n, chunk):
        sim = z[start:start + chunk] @ z.T  # (c, N)
        if not self_loops:
            rows = torch.arange(sim.shape[0], device=x.device)
            sim[rows, rows + start] = float("-inf")
        nbr = sim.topk(k, dim=1).indices  # (c, k)
        src.append(nbr.reshape(-1))
        dst.append(torch.arange(start, start + sim.shape[0], device=x.device).repeat_interleave(k))
    return torch.stack([torch.cat(src), torch.cat(dst)])


@torch.no_grad()
def siamese_edge_weights(head, embeddings: torch.Tensor, edge_index: torch.Tensor, *, chunk: int = 65536) -> torch.Tensor:
    """Edge weights s_ij = sigmoid(Lambda(f_i, f_j)) from a trained pair head ``head`` (the
    Siamese network's "same genre" probability) for edges j -> i [shape=(E,)]."""
    src, dst = edge_index
    out = [torch.sigmoid(head(embeddings[dst[k:k + chunk]], embeddings[src[k:k + chunk]]))
           for k in range(0, src.numel(), chunk)]
    return torch.cat(out) if out else torch.empty(0)
