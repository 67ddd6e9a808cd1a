"""Propagating label evidence along a graph of clips: Correct and Smooth (Huang et al., ICLR 2021),
through PyTorch Geometric's :class:`~torch_geometric.nn.models.CorrectAndSmooth`.

A node classifier scores each clip from its own features; the graph then does what graphs do
best with few labels. **Correct** spreads the labelled clips' residual errors (true one-hot
minus predicted probability) to their neighbours, so a region the classifier gets wrong is
pulled back; **smooth** diffuses the corrected scores from the labelled clips' true labels, so
that neighbouring clips (segments of one track, songs of one artist, a test clip and its
unlabelled look-alikes) end up agreeing. Nothing is learned; both steps are
personalised-PageRank iterations ``G <- (1 - alpha) G0 + alpha S G`` over the symmetrically
normalised adjacency ``S = D^-1/2 A D^-1/2`` of a symmetrised kNN graph.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..errors import ParameterError
from .graphs import knn_graph

__all__ = ["SmoothConfig", "symmetric_knn_edges", "correct_and_smooth"]


@dataclass(frozen=True)
class SmoothConfig:
    """Settings of :func:`correct_and_smooth`: the kNN graph (``k`` most cosine-similar clips,
    symmetrised), the restart weights of the two steps (``alpha_correct``, ``alpha_smooth``: 0
    keeps the classifier's scores, near 1 trusts the graph) and the iterations of each (50:
    the remainder shrinks as alpha^t, 1e-5 at 0.8). The defaults are the paper's (alpha 0.8
    for both steps, autoscaled correction) on graham's kNN graph (k = 10)."""

    k: int = 10
    alpha_correct: float = 0.8
    alpha_smooth: float = 0.8
    iterations: int = 50

    def __post_init__(self) -> None:
        if self.k < 1 or self.iterations < 1 or not (0 <= self.alpha_correct < 1 and 0 <= self.alpha_smooth < 1):
            raise ParameterError("correct-and-smooth needs k >= 1, iterations >= 1 and alphas in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SmoothConfig":
        return cls(**d)


def symmetric_knn_edges(x: torch.Tensor, k: int) -> torch.Tensor:
    """Edges of the kNN graph of rows ``x`` [shape=(N, d)] (cosine, no self-loops), made
    symmetric: i -- j when either is among the other's ``k`` nearest, each edge once per
    direction [shape=(2, E)]."""
    n = x.shape[0]
    if n < 2:
        return torch.zeros(2, 0, dtype=torch.long, device=x.device)
    e = knn_graph(x, min(k, n - 1))
    both = torch.cat([e, e.flip(0)], dim=1)
    return torch.unique(both, dim=1)


@torch.no_grad()
def correct_and_smooth(proba: torch.Tensor, features: torch.Tensor, labels, labelled,
                       config: SmoothConfig | None = None) -> torch.Tensor:
    """Scores of every node after Correct and Smooth [shape=(N, C)]; the argmax is the class.

    ``proba`` [shape=(N, C)]: the base classifier's class probabilities of every node;
    ``features`` [shape=(N, d)]: what the kNN graph is built on (the clips' embeddings);
    ``labels``: the classes of the ``labelled`` nodes, in that order (no other label is asked
    for, so none can reach the result); ``labelled``: their indices."""
    from torch_geometric.nn.models import CorrectAndSmooth

    config = config or SmoothConfig()
    labelled = torch.as_tensor(labelled, dtype=torch.long, device=proba.device)
    labels = torch.as_tensor(labels, dtype=torch.long, device=proba.device)
    if labelled.numel() == 0 or labels.shape != labelled.shape:
        raise ParameterError("correct-and-smooth needs labelled nodes, one label each")
    edges = symmetric_knn_edges(features.to(proba.dtype), config.k)
    cs = CorrectAndSmooth(num_correction_layers=config.iterations, correction_alpha=config.alpha_correct,
                          num_smoothing_layers=config.iterations, smoothing_alpha=config.alpha_smooth,
                          autoscale=True)
    corrected = cs.correct(proba, labels, labelled, edges)
    return cs.smooth(corrected, labels, labelled, edges)
