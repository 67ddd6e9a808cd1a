"""The GrahAM node classifier: K GrahAM layers with ReLU and dropout, then a linear classifier.

Transductive (the paper): every clip, labelled or not, is a node of one complete graph and the
whole graph goes through the network at once. Inductive: new clips join as nodes that receive
messages from every reference (training) node; the reference nodes are computed among
themselves, so a new clip's prediction does not depend on the other new clips and no
retraining is needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import ParameterError
from .graham_conv import GrahamConv

__all__ = ["GNNConfig", "GrahamGNN"]


@dataclass(frozen=True)
class GNNConfig:
    """Layer count, widths, aggregation and dropout of :class:`GrahamGNN`."""

    hidden: int = 64
    layers: int = 2
    gamma_layers: int = 2
    aggr: str = "mean"
    dropout: float = 0.3
    self_loops: bool = False

    def __post_init__(self) -> None:
        if self.layers < 1 or self.hidden < 1 or not 0 <= self.dropout < 1:
            raise ParameterError("need layers >= 1, hidden >= 1 and 0 <= dropout < 1")

    def to_dict(self) -> dict:
        return asdict(self)


class GrahamGNN(nn.Module):
    """Node features [shape=(N, in_dim)] -> class logits [shape=(N, num_classes)]."""

    def __init__(self, in_dim: int, num_classes: int, config: GNNConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or GNNConfig()
        self.in_dim, self.num_classes = in_dim, num_classes
        dims = [in_dim] + [c.hidden] * c.layers
        self.convs = nn.ModuleList(
            GrahamConv(dims[k], dims[k + 1], hidden=c.hidden, gamma_layers=c.gamma_layers, aggr=c.aggr)
            for k in range(c.layers))
        self.dropout = nn.Dropout(c.dropout)
        self.classifier = nn.Linear(c.hidden, num_classes)

    def _act(self, h: torch.Tensor) -> torch.Tensor:
        return self.dropout(torch.relu(h))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor | None = None, *,
                edge_weight: torch.Tensor | None = None, return_hidden: bool = False):
        """Transductive pass. ``edge_index`` None: the complete graph (fast exact path);
        otherwise PyG message passing on the given edges (a kNN graph, say), optionally
        weighted per edge. With ``return_hidden``, also the last hidden features (for t-SNE)."""
        h = x
        for conv in self.convs:
            if edge_index is None:
                h = conv.forward_complete(h, self_loops=self.config.self_loops)
            else:
                h = conv(h, edge_index, edge_weight)
            h = self._act(h)
        logits = self.classifier(h)
        return (logits, h) if return_hidden else logits

    def forward_inductive(self, x_ref: torch.Tensor, x_new: torch.Tensor, *, return_hidden: bool = False):
        """Logits of new nodes ``x_new`` attached to every reference node ``x_ref``."""
        if x_new.shape[-1] != self.in_dim or x_ref.shape[-1] != self.in_dim:
            raise ParameterError(f"node features must have {self.in_dim} dimensions")
        r, q = x_ref, x_new
        for conv in self.convs:
            r_next = conv.forward_complete(r, self_loops=self.config.self_loops)
            q = self._act(conv.forward_complete(q, sources=r))
            r = self._act(r_next)
        logits = self.classifier(q)
        return (logits, q) if return_hidden else logits
