"""The GrahAM node classifier: K GrahAM layers with ReLU and dropout, then a linear classifier.

Transductive (the paper): every clip, labelled or not, is a node of one complete graph and the
whole graph goes through the network at once. Inductive: new clips join as nodes that receive
messages from every reference (training) node; the reference nodes are computed among
themselves, so a new clip's prediction does not depend on the other new clips and no
retraining is needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from ..names import GRAPH_KINDS
from .graham_conv import GrahamConv
from .graphs import Graph

__all__ = ["GNNConfig", "GrahamGNN"]


@dataclass(frozen=True)
class GNNConfig:
    """Layer count, widths, aggregation and dropout of :class:`GrahamGNN`, and the graph it
    runs on (``graph``: complete, knn with ``k`` neighbours, or similarity; see
    :mod:`graham.nn.graphs`), kept here so a saved model knows how to attach new clips.

    ``label_input``: every node also carries its label as a one-hot input (zeros where it is
    unknown: unlabelled and test clips, new clips), as few-shot graph networks do (Garcia and
    Bruna 2018; the "label trick" of UniMP, Shi et al. 2021). Messages ``gamma(x_i - x_j)``
    then carry the neighbours' labels, so the GNN learns how far to trust which neighbour; in
    training, the labels of the nodes that give loss are hidden from the input
    (:func:`graham.train.gnn.train_gnn`).

    ``band_statistics``: a node's features are its clip's Siamese embedding and, beside it, the
    clip's log-mel band statistics (:mod:`graham.audio.bandstats`: mean, std and mean |delta|
    of every band over the whole clip); a window of a new clip carries its clip's statistics.
    The embedding averages 3-s windows; the statistics see the whole clip's dynamics.

    ``smooth``: the GNN's class probabilities then go through Correct and Smooth over the kNN
    graph (``k``) of the embeddings (:mod:`graham.nn.propagate`): labelled clips' residuals and
    labels spread to their neighbours; new clips attach to their k nearest reference clips.

    ``relations``: typed relations between the nodes beside the audio graph (``("album",
    "artist")``), each a term of every layer over that relation's neighbours
    (:class:`~graham.nn.relational.RelationTerms`); the graph then carries one edge list per
    relation, in this order. Empty (the default): the paper's layer, and the setting is not
    written by :meth:`to_dict`, so settings and bundles read as they did before it existed.

    The defaults are the ``cpu`` preset's, measured on real music (README, "Why these
    defaults"): kNN graph, band statistics, smoothing; ``paper`` is the paper's complete graph
    over the embeddings alone, no smoothing."""

    hidden: int = 64
    layers: int = 2
    gamma_layers: int = 2
    aggr: str = "mean"
    dropout: float = 0.3
    self_loops: bool = False
    graph: str = "knn"
    k: int = 10
    label_input: bool = False
    band_statistics: bool = True
    smooth: bool = True
    relations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "relations", tuple(self.relations))  # a list from JSON
        if len(set(self.relations)) != len(self.relations) or not all(isinstance(r, str) and r
                                                                        for r in self.relations):
            raise ParameterError(f"relations must be distinct names, got {self.relations!r}")
        if self.layers < 1 or self.hidden < 1 or not 0 <= self.dropout < 1:
            raise ParameterError("need layers >= 1, hidden >= 1 and 0 <= dropout < 1")
        if self.graph not in GRAPH_KINDS or self.k < 1:
            raise ParameterError(f"graph must be one of {GRAPH_KINDS} and k >= 1, got {self.graph!r}, k={self.k}")

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.relations:
            del d["relations"]  # as before the setting existed: the same bundles and resumable runs
        else:
            d["relations"] = list(self.relations)
        return d

    def describe(self) -> str:
        """The settings in words, for tables and reports."""
        graph = {"complete": "the complete graph", "knn": f"a kNN graph (k = {self.k})",
                 "similarity": "the complete graph weighted by the pair head's s_ij"}[self.graph]
        nodes = "the Siamese embedding" + (" and the clip's log-mel band statistics" if self.band_statistics else "")
        return (f"GrahAM's GNN on {graph}, nodes holding {nodes}"
                + (", labelled nodes carrying their label as an input" if self.label_input else "")
                + (f", with {' and '.join(self.relations)} relations" if self.relations else "")
                + (f", then correct & smooth over the kNN graph (k = {self.k})" if self.smooth else ""))

    @classmethod
    def from_dict(cls, d: dict) -> "GNNConfig":
        """Inverse of :meth:`to_dict`; an unknown setting is a :class:`ParameterError`."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ParameterError(f"unknown GNNConfig settings: {sorted(unknown)}")
        return cls(**d)


class _ReluDropout(torch.autograd.Function):
    """``dropout(relu(h), p)`` in training. torch keeps relu's output and dropout's mask for the
    backward, 1.25 copies of an (N, h) tensor per layer beside the output itself; yet the
    output says all: the gradient flows exactly where the output is positive (the unit was on
    and kept), scaled by 1 / (1 - p). At a million nodes this saves 320 MB per layer. The
    mask is drawn as torch's dropout draws it (``bernoulli_(1 - p)``)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, p: float) -> torch.Tensor:
        out = torch.empty_like(h).bernoulli_(1 - p)
        out.mul_(torch.relu(h)).mul_(1.0 / (1 - p))
        ctx.save_for_backward(out)
        ctx.scale = 1.0 / (1 - p)
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        (out,) = ctx.saved_tensors
        grad = g * ctx.scale
        return grad.masked_fill_(out <= 0, 0), None


class GrahamGNN(nn.Module):
    """Node features [shape=(N, in_dim)] -> class logits [shape=(N, num_classes)]."""

    def __init__(self, in_dim: int, num_classes: int, config: GNNConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or GNNConfig()
        self.in_dim, self.num_classes = in_dim, num_classes
        dims = [in_dim + (num_classes if c.label_input else 0)] + [c.hidden] * c.layers
        self.convs = nn.ModuleList(
            GrahamConv(dims[k], dims[k + 1], hidden=c.hidden, gamma_layers=c.gamma_layers, aggr=c.aggr,
                       relations=len(c.relations))
            for k in range(c.layers))
        self.dropout = nn.Dropout(c.dropout)
        self.classifier = nn.Linear(c.hidden, num_classes)

    def inputs(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The first layer's input: ``x`` [shape=(N, in_dim)], and with ``label_input`` the
        one-hot of ``labels`` [shape=(N,), -1 where unknown; None: all unknown] beside it."""
        if not self.config.label_input:
            return x
        onehot = torch.zeros(x.shape[0], self.num_classes, dtype=x.dtype, device=x.device)
        if labels is not None:
            known = labels >= 0
            onehot[known] = F.one_hot(labels[known], self.num_classes).to(x.dtype)
        return torch.cat([x, onehot], dim=1)

    def _layers(self) -> list[GrahamConv]:
        """The graph layers, typed (a ModuleList yields plain Modules)."""
        return [cast(GrahamConv, conv) for conv in self.convs]

    def _act(self, h: torch.Tensor) -> torch.Tensor:
        """dropout(relu(h)), as one step that keeps only its output for the backward."""
        p = self.dropout.p
        if not (self.training and p > 0 and torch.is_grad_enabled() and h.requires_grad):
            return self.dropout(torch.relu(h))
        return _ReluDropout.apply(h, p)

    def _relations(self, graph: Graph | None) -> tuple[torch.Tensor, ...] | None:
        """The graph's relation edges, one list per relation of the config (None without)."""
        if not self.config.relations:
            return None
        if graph is None or len(graph.relations) != len(self.config.relations):
            raise ParameterError(f"this GNN reads the relations {', '.join(self.config.relations)}: the graph must "
                                 "carry one edge list for each")
        return graph.relations

    def _layer(self, conv: GrahamConv, h: torch.Tensor, graph: Graph | None) -> torch.Tensor:
        rel = self._relations(graph)
        if graph is None or graph.is_complete:
            return conv.forward_complete(h, self_loops=self.config.self_loops, relation_edges=rel)
        if graph.weights is not None:
            return conv.forward_weighted(h, graph.weights, relation_edges=rel)
        return conv(h, graph.edge_index, graph.edge_weight, relation_edges=rel)

    def forward(self, x: torch.Tensor, graph: Graph | None = None, *, labels: torch.Tensor | None = None,
                return_hidden: bool = False):
        """Transductive pass over nodes ``x``. ``graph`` None or complete: the paper's complete
        graph (fast exact path); otherwise PyG message passing on its edges (kNN, or weighted
        by s_ij). ``labels``: the known labels, -1 elsewhere (read only with ``label_input``).
        With ``return_hidden``, also the last hidden features (for t-SNE)."""
        h = self.inputs(x, labels)
        for conv in self._layers():
            h = self._act(self._layer(conv, h, graph))
        logits = self.classifier(h)
        return (logits, h) if return_hidden else logits

    def reference_states(self, x_ref: torch.Tensor, graph: Graph | None = None, *,
                         labels: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The input of every layer for the reference nodes, computed among themselves
        [K tensors of shape=(N_ref, d_k)], with their known ``labels`` (-1: unknown; read only
        with ``label_input``). They do not depend on new clips: compute them once and pass
        them to :meth:`forward_inductive` for every query."""
        states, r = [], self.inputs(x_ref, labels)
        for conv in self._layers():
            states.append(r)
            r = self._act(self._layer(conv, r, graph))
        return states

    def forward_inductive(self, x_ref: torch.Tensor | None, x_new: torch.Tensor, *, graph: Graph | None = None,
                          attach: Graph | None = None, ref_states: list[torch.Tensor] | None = None,
                          return_hidden: bool = False):
        """Logits of new nodes ``x_new`` attached to the reference nodes ``x_ref``: each new node
        receives from every reference node (``attach`` None or complete) or from the sources of
        its ``attach`` edges (bipartite; :func:`graham.nn.graphs.attach_graph`). The reference
        nodes see only each other (over ``graph``), so a new clip's prediction never depends
        on another new clip. ``ref_states`` (from :meth:`reference_states`) skips recomputing
        the reference side (without them, the reference nodes carry no labels). A new clip's
        label is never known: with ``label_input`` its label input is zero."""
        if x_new.shape[-1] != self.in_dim:
            raise ParameterError(f"node features must have {self.in_dim} dimensions")
        if ref_states is None:
            if x_ref is None or x_ref.shape[-1] != self.in_dim:
                raise ParameterError(f"reference features must have {self.in_dim} dimensions")
            ref_states = self.reference_states(x_ref, graph)
        q = self.inputs(x_new)
        rel = self._relations(attach)  # bipartite relation edges: a reference track -> a new one
        for conv, r in zip(self._layers(), ref_states):
            if attach is None or attach.is_complete:
                q = conv.forward_complete(q, sources=r, self_loops=self.config.self_loops, relation_edges=rel)
            elif attach.weights is not None:
                q = conv.forward_weighted(q, attach.weights, sources=r, relation_edges=rel)
            else:
                q = conv(r, attach.edge_index, attach.edge_weight, x_dst=q, relation_edges=rel)
            q = self._act(q)
        logits = self.classifier(q)
        return (logits, q) if return_hidden else logits
