"""Graphs over clip embeddings, for the GrahAM GNN.

Three kinds (``GRAPH_KINDS``):

- ``complete``: the paper's; every clip receives a message from every other clip. It is
  handled implicitly by the exact fast path (:meth:`GrahamConv.forward_complete`): a
  :class:`Graph` with no edge list.
- ``knn``: each clip receives from its ``k`` most cosine-similar clips (Siamese embeddings),
  built in plain torch in chunks (PyG's ``knn_graph`` needs pyg-lib, which these machines
  cannot install).
- ``similarity``: the complete graph with each message j -> i weighted by the pair head's
  same-genre probability ``s_ij = sigmoid(Lambda(f_i, f_j))``, so clips the Siamese network
  deems of another genre speak softly. Held as a dense weight matrix, not an edge list: the
  layer then computes gamma's first Linear once per node (:meth:`GrahamConv.forward_weighted`),
  15x faster than message passing over the N^2 edges at N = 300.

New clips (inductive use, prediction) join as nodes that receive from reference clips only:
:func:`attach_graph` builds those bipartite edges (source: a reference clip, target: a new clip).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ParameterError
from ..names import GRAPH_KINDS

__all__ = ["Graph", "build_graph", "attach_graph", "knn_graph", "knn_edges", "siamese_edge_weights",
           "similarity_matrix"]



@dataclass(frozen=True)
class Graph:
    """Edges j -> i in PyG layout [shape=(2, E): row 0 source j, row 1 target i] and optional
    per-edge weights [shape=(E,)]; or, for a weighted complete graph, ``weights``
    [shape=(N_targets, N_sources)], w_ij the weight of j -> i (a zero diagonal, on one node set,
    for no self-loops). Neither: the plain complete graph. ``relations``: beside it, one edge
    list per typed relation (album, artist, ...), in the order of the GNN's ``relations``."""

    edge_index: torch.Tensor | None = None
    edge_weight: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    relations: tuple[torch.Tensor, ...] = ()

    @property
    def is_complete(self) -> bool:
        return self.edge_index is None and self.weights is None

    def to(self, device) -> "Graph":
        move = (lambda t: None if t is None else t.to(device))  # noqa: E731
        return Graph(move(self.edge_index), move(self.edge_weight), move(self.weights),
                     tuple(r.to(device) for r in self.relations))


def _check(kind: str, k: int, head) -> None:
    if kind not in GRAPH_KINDS:
        raise ParameterError(f"graph must be one of {GRAPH_KINDS}, got {kind!r}")
    if kind == "knn" and k < 1:
        raise ParameterError(f"a kNN graph needs k >= 1, got {k}")
    if kind == "similarity" and head is None:
        raise ParameterError("a similarity-weighted graph needs the Siamese pair head")


def build_graph(kind: str, embeddings: torch.Tensor, *, k: int = 10, head=None) -> Graph:
    """The graph of ``kind`` over clips with Siamese ``embeddings`` [shape=(N, 128)]; ``head``
    is the trained pair head (for ``similarity``). kNN uses min(k, N - 1) neighbours."""
    _check(kind, k, head)
    n = embeddings.shape[0]
    if kind == "complete":
        return Graph()
    if kind == "knn":
        return Graph(knn_graph(embeddings, min(k, n - 1)))
    w = similarity_matrix(head, embeddings, embeddings)
    w.fill_diagonal_(0.0)
    return Graph(weights=w)


def attach_graph(kind: str, reference: torch.Tensor, new: torch.Tensor, *, k: int = 10, head=None) -> Graph:
    """Bipartite edges from reference clips (sources, rows of ``reference``) to new clips
    (targets, rows of ``new``), both Siamese embeddings. ``complete``: no edge list (every
    reference node is a neighbour); ``knn``: the new clip's k nearest reference clips;
    ``similarity``: every reference clip, weighted by s_ij."""
    _check(kind, k, head)
    if kind == "complete":
        return Graph()
    if kind == "knn":
        return Graph(knn_edges(new, reference, min(k, reference.shape[0])))
    return Graph(weights=similarity_matrix(head, new, reference))


@torch.no_grad()
def similarity_matrix(head, targets: torch.Tensor, sources: torch.Tensor, *, chunk: int = 256) -> torch.Tensor:
    """s_ij = sigmoid(Lambda(f_i, f_j)) for every target i and source j [shape=(N_t, N_s)]."""
    rows = []
    for start in range(0, targets.shape[0], chunk):
        t = targets[start:start + chunk]
        ti = t.unsqueeze(1).expand(-1, sources.shape[0], -1)
        sj = sources.unsqueeze(0).expand(t.shape[0], -1, -1)
        rows.append(torch.sigmoid(head(ti, sj)))
    return torch.cat(rows) if rows else torch.empty(0, sources.shape[0])


def knn_edges(targets: torch.Tensor, sources: torch.Tensor, k: int, *, chunk: int = 4096,
              exclude_same_index: bool = False) -> torch.Tensor:
    """Edges from each target's ``k`` most cosine-similar sources [shape=(2, N_targets k)]: row 0
    the source index, row 1 the target index. ``exclude_same_index`` drops source i for target i
    (one node set: no self-loops). Memory O(chunk N_sources)."""
    zt, zs = F.normalize(targets, dim=1), F.normalize(sources, dim=1)
    src, dst = [], []
    for start in range(0, zt.shape[0], chunk):
        sim = zt[start:start + chunk] @ zs.T  # (c, Ns)
        if exclude_same_index:
            rows = torch.arange(sim.shape[0], device=sim.device)
            sim[rows, rows + start] = float("-inf")
        nbr = sim.topk(k, dim=1).indices  # (c, k)
        src.append(nbr.reshape(-1))
        dst.append(torch.arange(start, start + sim.shape[0], device=sim.device).repeat_interleave(k))
    return torch.stack([torch.cat(src), torch.cat(dst)])


def knn_graph(x: torch.Tensor, k: int, *, chunk: int = 4096, self_loops: bool = False) -> torch.Tensor:
    """Edges j -> i from each node's ``k`` most cosine-similar nodes [shape=(2, N k)], PyG layout
    (row 0 source j, row 1 target i). Memory O(chunk N)."""
    n = x.shape[0]
    if not 1 <= k <= n - (0 if self_loops else 1):
        raise ParameterError(f"k must be in [1, {n - (0 if self_loops else 1)}], got {k}")
    return knn_edges(x, x, k, chunk=chunk, exclude_same_index=not self_loops)


@torch.no_grad()
def siamese_edge_weights(head, embeddings: torch.Tensor, edge_index: torch.Tensor, *,
                         chunk: int = 65536) -> torch.Tensor:
    """Edge weights s_ij = sigmoid(Lambda(f_i, f_j)) from a trained pair head ``head`` (the
    Siamese network's "same genre" probability) for edges j -> i [shape=(E,)]."""
    src, dst = edge_index
    out = [torch.sigmoid(head(embeddings[dst[k:k + chunk]], embeddings[src[k:k + chunk]]))
           for k in range(0, src.numel(), chunk)]
    return torch.cat(out) if out else torch.empty(0)
