r"""The relation terms of a relation-aware GrahAM layer (R-GCN style, Schlichtkrull et al.
2018): beside the paper's term over the audio graph, one aggregated term per relation r
(album, artist, ...) over that relation's neighbours,

.. math::
    m^r_i = \operatorname{AGG}_{j \in \mathcal{N}_r(i)} \gamma_r(x_i - x_j),
    \qquad x_i' = \phi_g\big(x_i \,\Vert\, m_i \,\Vert\, m^1_i \,\Vert \dots \Vert\, m^R_i\big),

with :math:`m^r_i = 0` where node i has no r-neighbour. Each :math:`\gamma_r` has
:math:`\gamma`'s shape. Its first Linear is computed once per node
(:math:`W(x_i - x_j) = Wx_i - Wx_j`) and, for mean and sum, its trailing Linear after the
aggregation (it commutes with them), so a relation costs O(N d h + E_r h) through sparse segment
sums rather than O(E_r d h).
"""

from __future__ import annotations

from typing import Sequence, cast

import torch
from torch import nn

from ..errors import ParameterError

__all__ = ["RelationTerms"]


def _gamma(in_channels: int, hidden: int, layers: int) -> nn.Sequential:
    """gamma's shape: Linear-ReLU, then (Linear, ReLU)* ending on a Linear for two layers or more."""
    g: list[nn.Module] = [nn.Linear(in_channels, hidden), nn.ReLU()]
    for k in range(1, layers):
        g.append(nn.Linear(hidden, hidden))
        if k < layers - 1:
            g.append(nn.ReLU())
    return nn.Sequential(*g)


class RelationTerms(nn.Module):
    """:math:`m^r_i` for every relation r [shape=(N_targets, relations * hidden)].

    Parameters
    ----------
    in_channels : int > 0
        Node feature size d.
    hidden : int > 0
        Width h of each :math:`\\gamma_r` (the layer's hidden width).
    relations : int > 0
        How many relations.
    gamma_layers : int > 0
        Linear layers of each :math:`\\gamma_r`, as the layer's :math:`\\gamma`.
    aggr : {'mean', 'sum', 'max'}
        Aggregation over each relation's neighbours.

    Examples
    --------
    Against the formula written out for one node:

    >>> import torch
    >>> from graham.nn.relational import RelationTerms
    >>> _ = torch.manual_seed(0)
    >>> terms = RelationTerms(4, 8, relations=2)
    >>> x = torch.randn(5, 4)
    >>> album = torch.tensor([[1, 2, 0, 0], [0, 0, 1, 2]])  # edges j -> i: 1 -> 0, 2 -> 0, 0 -> 1, 0 -> 2
    >>> artist = torch.zeros(2, 0, dtype=torch.long)  # nobody shares an artist
    >>> m = terms(x, [album, artist])
    >>> m.shape
    torch.Size([5, 16])
    >>> expected = torch.stack([terms.gammas[0](x[0] - x[j]) for j in (1, 2)]).mean(0)
    >>> bool(torch.allclose(m[0, :8], expected, atol=1e-6)), bool((m[:, 8:] == 0).all()), bool((m[3] == 0).all())
    (True, True, True)
    """

    def __init__(self, in_channels: int, hidden: int, *, relations: int, gamma_layers: int = 2,
                 aggr: str = "mean") -> None:
        super().__init__()
        if relations < 1 or hidden < 1 or gamma_layers < 1:
            raise ParameterError("relations, hidden and gamma_layers must be >= 1")
        if aggr not in ("mean", "sum", "max"):
            raise ParameterError(f"aggr must be mean, sum or max, got {aggr!r}")
        self.hidden, self.aggr, self.gamma_layers = hidden, aggr, gamma_layers
        self.gammas = nn.ModuleList(_gamma(in_channels, hidden, gamma_layers) for _ in range(relations))

    def forward(self, x: torch.Tensor, edges: Sequence[torch.Tensor], x_dst: torch.Tensor | None = None) -> torch.Tensor:
        """The terms of every target node: ``edges[r]`` [shape=(2, E_r): row 0 source j, row 1
        target i] indexes ``x`` as sources and ``x_dst`` (default: ``x``) as targets."""
        if len(edges) != len(self.gammas):
            raise ParameterError(f"this layer reads {len(self.gammas)} relations, got edges of {len(edges)}")
        dst = x if x_dst is None else x_dst
        return torch.cat([self._term(cast(nn.Sequential, g), x, dst, e) for g, e in zip(self.gammas, edges)], dim=1)

    def _term(self, gamma: nn.Sequential, x: torch.Tensor, dst: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        n, h = dst.shape[0], self.hidden
        src_idx, dst_idx = edges[0].to(x.device), edges[1].to(x.device)
        if src_idx.numel() == 0:
            return torch.zeros(n, h, dtype=x.dtype, device=x.device)
        lin1 = cast(nn.Linear, gamma[0])
        # gamma_1(x_i - x_j) = (W x_i + c) - W x_j, each side once per node
        h1 = torch.relu((dst @ lin1.weight.T + lin1.bias)[dst_idx] - (x @ lin1.weight.T)[src_idx])  # (E, h)
        if self.aggr == "max" or self.gamma_layers > 2:
            msg = gamma[2:](h1)
            return self._aggregate(msg, dst_idx, n)
        total = torch.zeros(n, h, dtype=x.dtype, device=x.device).index_add_(0, dst_idx, h1)
        degree = torch.bincount(dst_idx, minlength=n).to(x.dtype).unsqueeze(1)  # (N, 1)
        if self.aggr == "mean":
            total = total / degree.clamp_min(1)
        if self.gamma_layers == 1:
            return total
        lin2 = cast(nn.Linear, gamma[2])  # commutes with the sum: its bias once per neighbour (mean: once)
        count = (degree > 0).to(x.dtype) if self.aggr == "mean" else degree
        return total @ lin2.weight.T + count * lin2.bias

    def _aggregate(self, msg: torch.Tensor, dst_idx: torch.Tensor, n: int) -> torch.Tensor:
        """Per-edge messages aggregated per target; 0 where a target has no edge."""
        out = torch.zeros(n, msg.shape[1], dtype=msg.dtype, device=msg.device)
        if self.aggr == "max":
            out = out.index_reduce_(0, dst_idx, msg, "amax", include_self=False)
            return out
        out = out.index_add_(0, dst_idx, msg)
        if self.aggr == "mean":
            out = out / torch.bincount(dst_idx, minlength=n).to(msg.dtype).clamp_min(1).unsqueeze(1)
        return out
