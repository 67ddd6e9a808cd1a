"""Propagating label evidence along a graph of clips: Correct and Smooth (Huang et al., ICLR 2021),
through PyTorch Geometric's :class:`~torch_geometric.nn.models.CorrectAndSmooth`.

A node classifier (GrahAM's GNN) scores each clip; the graph then does what graphs do best
with few labels. **Correct** spreads the labelled clips' residual errors (true one-hot minus
predicted probability) to their neighbours, so a region the classifier gets wrong is pulled
back; **smooth** diffuses the corrected scores from the labelled clips' true labels, so that
neighbouring clips (segments of one track, songs of one artist, a test clip and its unlabelled
look-alikes) end up agreeing. Nothing is learned; both steps are personalised-PageRank
iterations ``G <- (1 - alpha) G0 + alpha S G`` over the symmetrically normalised adjacency
``S = D^-1/2 A D^-1/2`` of a symmetrised kNN graph of the embeddings.

New clips (prediction) join as nodes attached to their k nearest reference clips without
changing them, as in GrahAM's inductive GNN: :func:`smooth_reference` runs Correct and Smooth
over the reference clips once; :func:`attach_smoothed` then gives a new node the fixed point of
its own row of both iterations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ParameterError
from .graphs import knn_edges, knn_graph
from .pyg_tempfiles import remove_generated_sources

Array = TypeVar("Array", np.ndarray, torch.Tensor)

__all__ = ["SmoothConfig", "SmoothedReference", "graph_coordinates", "symmetric_knn_edges", "correct_and_smooth",
           "smooth_reference", "attach_smoothed", "normalise_scores"]


@dataclass(frozen=True)
class SmoothConfig:
    """Settings of Correct and Smooth: the kNN graph (``k`` most cosine-similar clips,
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


def graph_coordinates(embeddings: Array, mean: Array, scale: Array) -> Array:
    """What correct & smooth's kNN graph is built on, in training and in prediction alike: the
    embeddings [shape=(N, d)] standardised as the GNN standardised its node features, whose first
    ``d`` columns they are (``mean``, ``scale``: the node features' statistics)."""
    d = embeddings.shape[1]
    return (embeddings - mean[:d]) / scale[:d]


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


def _check(labels, labelled, device) -> tuple[torch.Tensor, torch.Tensor]:
    labelled = torch.as_tensor(labelled, dtype=torch.long, device=device)
    labels = torch.as_tensor(labels, dtype=torch.long, device=device)
    if labelled.numel() == 0 or labels.shape != labelled.shape:
        raise ParameterError("correct-and-smooth needs labelled nodes, one label each")
    return labels, labelled


def _model(config: SmoothConfig):
    from torch_geometric.nn.models import CorrectAndSmooth

    model = CorrectAndSmooth(num_correction_layers=config.iterations, correction_alpha=config.alpha_correct,
                             num_smoothing_layers=config.iterations, smoothing_alpha=config.alpha_smooth,
                             autoscale=True)
    remove_generated_sources()  # its LabelPropagation's generated propagate: no file left in the temp folder
    return model


@torch.no_grad()
def correct_and_smooth(proba: torch.Tensor, features: torch.Tensor, labels, labelled,
                       config: SmoothConfig | None = None, *,
                       relation_edges: torch.Tensor | None = None, audio_knn: bool = True) -> torch.Tensor:
    """Scores of every node after Correct and Smooth [shape=(N, C)]; the argmax is the class.

    ``proba`` [shape=(N, C)]: the base classifier's class probabilities of every node;
    ``features`` [shape=(N, d)]: what the kNN graph is built on (the clips' embeddings);
    ``labels``: the classes of the ``labelled`` nodes, in that order (no other label is asked
    for, so none can reach the result); ``labelled``: their indices. ``relation_edges``
    [shape=(2, E)]: edges of a library's relations (same album, same artist) that join the kNN
    graph's, symmetrised; with ``audio_knn`` False, they alone are the graph (the base classifier
    has read the audio neighbours already)."""
    ref = smooth_reference(proba, features, labels, labelled, config, relation_edges=relation_edges,
                           audio_knn=audio_knn)
    return ref.scores.to(proba.dtype)


@dataclass
class SmoothedReference:
    """The reference clips after Correct and Smooth among themselves: what a new node needs."""

    features: torch.Tensor  # (N, d) what the kNN graph is built on
    degree: torch.Tensor  # (N,) degree in the symmetrised kNN graph
    error: torch.Tensor  # (N, C) the propagated residuals (correct step)
    scores: torch.Tensor  # (N, C) the smoothed scores (smooth step)
    sigma: float  # mean L1 size of the labelled residuals (autoscale)
    config: SmoothConfig


@torch.no_grad()
def smooth_reference(proba: torch.Tensor, features: torch.Tensor, labels, labelled,
                     config: SmoothConfig | None = None, *,
                     relation_edges: torch.Tensor | None = None, audio_knn: bool = True) -> SmoothedReference:
    """Correct and Smooth over the reference clips alone (arguments as :func:`correct_and_smooth`),
    keeping the propagated residuals and scores that :func:`attach_smoothed` reads (a new clip
    attaches by the kNN graph alone: with ``relation_edges`` its result is the transductive
    one's only where it has no relation)."""
    config = config or SmoothConfig()
    labels, labelled = _check(labels, labelled, proba.device)
    proba = proba.double()  # a confident classifier's residuals underflow float32 to exactly 0
    features = features.to(proba.dtype)
    edges = (symmetric_knn_edges(features, config.k) if audio_knn
             else torch.zeros(2, 0, dtype=torch.long, device=proba.device))
    if not audio_knn and (relation_edges is None or not relation_edges.numel()):
        raise ParameterError("correct-and-smooth without the audio kNN graph needs relation edges")
    if relation_edges is not None and relation_edges.numel():
        rel = relation_edges.to(edges.device)
        edges = torch.unique(torch.cat([edges, rel, rel.flip(0)], dim=1), dim=1)
        edges = edges[:, edges[0] != edges[1]]
    cs = _model(config)
    y = F.one_hot(labels, proba.shape[1]).to(proba.dtype)
    error = torch.zeros_like(proba)
    error[labelled] = y - proba[labelled]
    smoothed_error = cs.prop1(error, edges, post_step=lambda x: x.clamp_(-1.0, 1.0))  # PyG's correct step
    sigma = float(error[labelled].abs().sum() / labelled.numel())
    scores = cs.smooth(_autoscaled(proba, smoothed_error, sigma), labels, labelled, edges)
    degree = torch.bincount(edges[1], minlength=proba.shape[0]).to(proba.dtype)
    return SmoothedReference(features, degree, smoothed_error, scores, sigma, config)


def _autoscaled(proba: torch.Tensor, error: torch.Tensor, sigma: float) -> torch.Tensor:
    """The corrected scores ``z + scale e`` of PyG's autoscaled correct step: each row's
    propagated residual ``e`` scaled to the labelled residuals' mean L1 size ``sigma`` (scale 1
    where it would pass 1000). A row that no residual reached, or no residual at all (every
    labelled node fitted exactly, where PyG would divide 0 by 0), is left as it was."""
    size = error.abs().sum(1, keepdim=True)
    scale = torch.where(size > 0, sigma / size.clamp_min(1e-300), torch.ones_like(size))
    scale[scale > 1000] = 1.0
    return proba + scale * error


@torch.no_grad()
def attach_smoothed(ref: SmoothedReference, proba: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Scores of new nodes [shape=(M, C)] attached to their k nearest reference clips.

    A new node q with neighbours N(q) (its ``k`` most cosine-similar reference clips, degree k)
    and no label gets the fixed point of its own row of both iterations, the reference side
    held as it is: ``e_q = clamp(alpha_c sum_j e_j / sqrt(k d_j))``, its corrected score
    ``z_q + scale_q e_q`` (autoscaled as in the reference step), then
    ``g_q = clamp((1 - alpha_s) z'_q + alpha_s sum_j g_j / sqrt(k d_j))``. One new node never
    changes another's result."""
    cfg = ref.config
    out_dtype, proba = proba.dtype, proba.to(ref.scores.dtype)
    k = min(cfg.k, ref.features.shape[0])
    edges = knn_edges(features.to(ref.features.dtype), ref.features, k)  # row 0: reference j, row 1: new node q
    src, dst = edges
    w = (1.0 / torch.sqrt(k * ref.degree[src].clamp_min(1.0))).unsqueeze(1)
    err = torch.zeros(proba.shape[0], ref.error.shape[1], dtype=proba.dtype, device=proba.device)
    err.index_add_(0, dst, ref.error[src] * w)
    err = (cfg.alpha_correct * err).clamp_(-1.0, 1.0)
    corrected = _autoscaled(proba, err, ref.sigma)
    nb = torch.zeros_like(corrected)
    nb.index_add_(0, dst, ref.scores[src] * w)
    return ((1 - cfg.alpha_smooth) * corrected + cfg.alpha_smooth * nb).clamp_(0.0, 1.0).to(out_dtype)


def normalise_scores(scores: torch.Tensor) -> torch.Tensor:
    """Smoothed scores as class probabilities: each row divided by its sum (a row of zeros,
    which nothing reached, stays uniform)."""
    total = scores.sum(1, keepdim=True)
    uniform = torch.full_like(scores, 1.0 / scores.shape[1])
    return torch.where(total > 0, scores / total.clamp_min(1e-12), uniform)
