r"""The GrahAM graph layer (paper, eq. 4):

.. math::
    x_i' = \phi_g\Big(x_i \,\Vert\, \operatorname{AGG}_{j \in \mathcal{N}(i)} \gamma(x_i - x_j)\Big)

with :math:`\gamma` and :math:`\phi_g` small ReLU MLPs. The difference is not made symmetric
(no abs, no square; the paper wants information that helps :math:`x_i` not to flow back to
:math:`x_j` alike).

Two implementations share one set of weights:

- :meth:`GrahamConv.forward` is a PyTorch Geometric ``MessagePassing`` operator on any
  ``edge_index`` (kNN graphs, given graphs): the reference.
- :meth:`GrahamConv.forward_complete` is exact on the complete graph without materialising
  its N^2 edges. With :math:`\gamma_1(z) = Wz + c`, :math:`\gamma_1(x_i - x_j) = a_i - b_j`
  where :math:`a = Wx + c` and :math:`b = Wx`, and for every feature k,
  :math:`\sum_j \operatorname{relu}(a_{ik} - b_{jk}) = n_{ik} a_{ik} - \sum_{b_{jk} < a_{ik}} b_{jk}`,
  where :math:`n_{ik}` counts the :math:`b_{jk}` below :math:`a_{ik}`: one sort, one
  ``searchsorted`` and a prefix sum per feature, O(N h log N) time and O(N h) memory instead of
  O(N^2 h) (:mod:`graham.nn.sorted_sums`). Its backward is written out: it keeps only the layer's
  inputs and recomputes the sorts, a few features at a time, so that a million nodes train in
  bounded memory. A trailing Linear of :math:`\gamma` commutes with mean and sum, and is folded
  into :math:`\phi_g`'s first Linear, so the (N, h) aggregate is never held; max with a one-layer
  :math:`\gamma` is :math:`\operatorname{relu}(a_i - \min_{j \ne i} b_j)`. Any other
  :math:`\gamma` (deeper, or max after a second Linear) falls back to an exact dense
  computation in chunks of targets.
"""

from __future__ import annotations

from typing import Sequence, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import MessagePassing

from ..errors import ParameterError
from .pyg_tempfiles import remove_generated_sources
from .relational import RelationTerms
from .sorted_sums import ReluDiffSum, ShiftedReluSum

__all__ = ["GrahamConv", "complete_edge_index"]

AGGREGATIONS = ("mean", "sum", "max")


def complete_edge_index(n: int, *, self_loops: bool = False, device=None) -> torch.Tensor:
    """All ordered pairs (j -> i) of ``n`` nodes [shape=(2, n(n-1)) or (2, n^2)], PyG layout
    (row 0: source j, row 1: target i)."""
    idx = torch.arange(n, device=device)
    src = idx.repeat_interleave(n)
    dst = idx.repeat(n)
    if not self_loops:
        keep = src != dst
        src, dst = src[keep], dst[keep]
    return torch.stack([src, dst])


def _mlp(sizes: list[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            layers.append(nn.ReLU())
    return layers


class GrahamConv(MessagePassing):
    r"""One GrahAM layer (paper, eq. 4):
    :math:`x_i' = \phi_g\big(x_i \,\Vert\, \operatorname{AGG}_{j \in \mathcal{N}(i)} \gamma(x_i - x_j)\big)`.

    Parameters
    ----------
    in_channels : int > 0
        Node feature size d.
    out_channels : int > 0
        Output size.
    hidden : int > 0
        Width h of :math:`\gamma` and of :math:`\phi_g`'s hidden layer.
    gamma_layers : int > 0
        Linear layers in :math:`\gamma`; every one is followed by a ReLU but the last of two or
        more (1: Linear-ReLU, 2: Linear-ReLU-Linear, ...).
    aggr : {'mean', 'sum', 'max'}
        Aggregation over the neighbours j.
    relations : int >= 0
        Typed relations beside the audio graph (album, artist, ...): each adds a term
        :math:`\operatorname{AGG}_{j \in \mathcal{N}_r(i)} \gamma_r(x_i - x_j)` to
        :math:`\phi_g`'s input (:class:`~graham.nn.relational.RelationTerms`), and every
        forward then takes one edge list per relation. 0: the paper's layer, bit for bit.

    Notes
    -----
    Shapes: node features (N, d) and, for :meth:`forward`, ``edge_index`` (2, E) (source j,
    target i); output (N, out_channels). :meth:`forward_complete` is the complete graph,
    exact, in O(N h log N) time; :meth:`forward` (PyTorch Geometric message passing) the
    reference on any edge list.

    Examples
    --------
    The fast complete-graph path against the message-passing reference on the complete edge
    list, and against the formula written out for one node:

    >>> import torch
    >>> from graham.nn.graham_conv import GrahamConv, complete_edge_index
    >>> _ = torch.manual_seed(0)
    >>> conv = GrahamConv(8, 3, hidden=16)
    >>> x = torch.randn(6, 8)
    >>> fast, reference = conv.forward_complete(x), conv(x, complete_edge_index(6))
    >>> fast.shape, bool(torch.allclose(fast, reference, atol=1e-5))
    (torch.Size([6, 3]), True)
    >>> i = 2
    >>> agg = torch.stack([conv.gamma(x[i] - x[j]) for j in range(6) if j != i]).mean(0)
    >>> bool(torch.allclose(fast[i], conv.phi(torch.cat([x[i], agg])), atol=1e-5))
    True
    """

    #: Features sorted at once by the complete-graph path: bounds its buffers to
    #: (N, column_chunk) whatever h is (16 was not tuned; benchmarks/README.md has the timings).
    column_chunk = 16

    def __init__(self, in_channels: int, out_channels: int, *, hidden: int = 64, gamma_layers: int = 2,
                 aggr: str = "mean", relations: int = 0) -> None:
        if aggr not in AGGREGATIONS:
            raise ParameterError(f"aggr must be one of {AGGREGATIONS}, got {aggr!r}")
        if gamma_layers < 1 or hidden < 1:
            raise ParameterError("gamma_layers and hidden must be >= 1")
        super().__init__(aggr=aggr)
        remove_generated_sources()  # PyG's generated propagate lives in memory now; its temp file goes
        self.in_channels, self.out_channels, self.hidden, self.gamma_layers = in_channels, out_channels, hidden, gamma_layers
        g = [nn.Linear(in_channels, hidden), nn.ReLU()]
        for k in range(1, gamma_layers):
            g.append(nn.Linear(hidden, hidden))
            if k < gamma_layers - 1:
                g.append(nn.ReLU())
        self.gamma = nn.Sequential(*g)
        self.phi = nn.Sequential(*_mlp([in_channels + hidden * (1 + relations), hidden, out_channels]))
        self.relations = relations
        # created after gamma and phi, so that with relations their initialisation is unchanged
        self.relation_terms = (RelationTerms(in_channels, hidden, relations=relations, gamma_layers=gamma_layers,
                                             aggr=aggr) if relations else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for m in list(self.gamma) + list(self.phi):
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        if self.relation_terms is not None:
            for m in self.relation_terms.modules():
                if isinstance(m, nn.Linear):
                    m.reset_parameters()

    def _relation_input(self, x: torch.Tensor, relation_edges: Sequence[torch.Tensor] | None,
                        sources: torch.Tensor | None = None) -> torch.Tensor | None:
        """The relation terms of the targets ``x`` [shape=(N, relations * hidden)], or None for
        a layer without relations; ``sources`` (default ``x``) are what the edges' row 0 indexes."""
        if self.relation_terms is None:
            if relation_edges:
                raise ParameterError("this layer has no relations: pass no relation edges")
            return None
        if relation_edges is None:
            raise ParameterError(f"this layer reads {self.relations} relations: pass their edges")
        return self.relation_terms(x if sources is None else sources, relation_edges,
                                   x_dst=None if sources is None else x)

    def _phi_input(self, x: torch.Tensor, m: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([x, m] if extra is None else [x, m, extra], dim=-1)

    # -- the reference: PyG message passing ------------------------------------------------
    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None = None, *,
                x_dst: torch.Tensor | None = None,
                relation_edges: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """``edge_weight`` [shape=(E,)], optional, scales each message (e.g. the Siamese
        similarity s_ij, :func:`graham.nn.graphs.siamese_edge_weights`). With ``x_dst``, the
        graph is bipartite: sources are rows of ``x``, targets rows of ``x_dst`` (new clips
        attached to reference clips), and the output has one row per target.
        ``relation_edges``: one edge list per relation (the layer's ``relations``), indexed as
        ``edge_index`` is."""
        if x_dst is None:
            m = self.propagate(edge_index, x=x, edge_weight=edge_weight)
            return self.phi(self._phi_input(x, m, self._relation_input(x, relation_edges)))
        m = self.propagate(edge_index, x=(x, x_dst), edge_weight=edge_weight, size=(x.shape[0], x_dst.shape[0]))
        return self.phi(self._phi_input(x_dst, m, self._relation_input(x_dst, relation_edges, sources=x)))

    def message(self, x_i: torch.Tensor, x_j: torch.Tensor, edge_weight: torch.Tensor | None = None) -> torch.Tensor:
        msg = self.gamma(x_i - x_j)
        return msg if edge_weight is None else msg * edge_weight.unsqueeze(-1)

    # -- the complete graph, fast and exact -------------------------------------------------
    @property
    def has_fast_path(self) -> bool:
        return self.gamma_layers <= 2 and not (self.aggr == "max" and self.gamma_layers == 2)

    def forward_complete(self, x: torch.Tensor, sources: torch.Tensor | None = None, *, self_loops: bool = False,
                         chunk: int = 1024, relation_edges: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """This layer on the complete graph: every node of ``x`` receives a message from every
        node of ``sources`` (default: ``x`` itself, without the node itself unless ``self_loops``).
        With separate ``sources`` (inductive use), every source is a neighbour, and with
        ``self_loops`` the new node is its own neighbour too, as every reference node is.
        ``relation_edges``: one edge list per relation, row 0 indexing ``sources`` (or ``x``).
        """
        extra = self._relation_input(x, relation_edges, sources)
        inductive_self = sources is not None and self_loops
        if not inductive_self:
            parts = self._aggregate_parts(x, sources, self_loops=self_loops, chunk=chunk)
            if isinstance(parts, tuple):  # m = total W^T + b: fold that Linear into phi's first
                total, weight, bias = parts
                lin = cast(nn.Linear, self.phi[0])
                d = x.shape[-1]
                w_m = lin.weight[:, d:d + self.hidden]
                pre = torch.addmm(F.linear(total, w_m @ weight, lin.bias + w_m @ bias), x, lin.weight[:, :d].T)
                return self.phi[1:](pre if extra is None else pre + extra @ lin.weight[:, d + self.hidden:].T)
            return self._phi_split(x, parts, extra)
        m = self.aggregate_complete(x, sources, self_loops=self_loops, chunk=chunk)
        g0 = self.gamma(torch.zeros(1, x.shape[-1], dtype=x.dtype, device=x.device))  # gamma(x_i - x_i)
        n = (x if sources is None else sources).shape[0]
        m = {"mean": lambda: (m * n + g0) / (n + 1), "sum": lambda: m + g0,
             "max": lambda: torch.maximum(m, g0)}[self.aggr]()
        return self._phi_split(x, m, extra)

    def _phi_split(self, x: torch.Tensor, m: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """``phi(cat([x, m, extra]))`` without building the concatenation: its first Linear is
        split into the columns that read x, those that read m and those that read the relation
        terms ``extra`` (the same weights and sums)."""
        lin = cast(nn.Linear, self.phi[0])
        d, h = x.shape[-1], self.hidden
        pre = torch.addmm(F.linear(m, lin.weight[:, d:d + h], lin.bias), x, lin.weight[:, :d].T)
        return self.phi[1:](pre if extra is None else pre + extra @ lin.weight[:, d + h:].T)

    def aggregate_complete(self, x: torch.Tensor, sources: torch.Tensor | None = None, *, self_loops: bool = False,
                           chunk: int = 1024) -> torch.Tensor:
        """AGG_j gamma(x_i - s_j) for every target i [shape=(N, hidden)]."""
        parts = self._aggregate_parts(x, sources, self_loops=self_loops, chunk=chunk)
        return F.linear(*parts) if isinstance(parts, tuple) else parts

    def _aggregate_parts(self, x: torch.Tensor, sources: torch.Tensor | None, *, self_loops: bool,
                         chunk: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The aggregate, or, when gamma ends in a Linear that commutes with the aggregation,
        ``(total, weight, bias)`` with aggregate = total weight^T + bias: the caller may fold
        that Linear into the next one and never hold the (N, h) aggregate (and its saved copy)."""
        exclude_self = sources is None and not self_loops
        s = x if sources is None else sources
        n_src = s.shape[0] - (1 if exclude_self else 0)
        if n_src <= 0:
            raise ParameterError("a node needs at least one neighbour")
        if not self.has_fast_path:
            return self._dense(x, s, exclude_self, chunk)
        lin1 = cast(nn.Linear, self.gamma[0])
        if self.aggr != "max" and sources is None:  # a = b + bias: one sort orders both
            bt = lin1.weight @ x.T  # (h, N), feature-major: each feature's nodes lie contiguous
            total = ShiftedReluSum.apply(bt, lin1.bias, self.column_chunk).T  # (N, h): sum_j relu(a_i - b_j)
            # node i's message to itself, relu(a_i - b_i) = relu(bias), was counted: take it off
            return self._gamma_tail(total, n_src, minus=torch.relu(lin1.bias) if exclude_self else None)
        b = s @ lin1.weight.T  # (Ns, h)
        if self.aggr == "max":
            a = (x @ lin1.weight.T if sources is not None else b) + lin1.bias  # (Nt, h)
            bs, order = torch.sort(b, dim=0)
            low = bs[0].expand_as(a)
            if exclude_self and b.shape[0] > 1:
                is_min = order[0].unsqueeze(0) == torch.arange(x.shape[0], device=x.device).unsqueeze(1)
                low = torch.where(is_min, bs[1].expand_as(a), low)
            return torch.relu(a - low)
        return self._gamma_tail(ReluDiffSum.apply(x @ lin1.weight.T + lin1.bias, b, self.column_chunk), n_src)

    def _gamma_tail(self, total: torch.Tensor, n_src: int, *,
                    minus: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """sum_j relu(gamma_1) (less ``minus`` [shape=(h,)] per node) -> AGG_j gamma: the mean's
        division and gamma's trailing Linear, which commutes with a sum (its bias counted once
        per neighbour). With a trailing Linear, the subtraction and the division are folded
        into its weights and bias, returned as ``(total, weight, bias)`` for the caller to
        apply (or fold further), so the (N, h) sums are read once."""
        scale = 1.0 / n_src if self.aggr == "mean" else 1.0
        if self.gamma_layers == 2:
            lin2 = cast(nn.Linear, self.gamma[2])
            weight = lin2.weight * scale
            bias = lin2.bias * (1.0 if self.aggr == "mean" else float(n_src))
            if minus is not None:
                bias = bias - weight @ minus
            return total, weight, bias
        if minus is not None:
            total = total - minus
        return total * scale if scale != 1.0 else total

    def forward_weighted(self, x: torch.Tensor, weights: torch.Tensor, sources: torch.Tensor | None = None, *,
                         chunk: int = 256, relation_edges: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """This layer on a complete graph whose message j -> i is scaled by ``weights[i, j]``
        [shape=(N_t, N_s)]: the same result as :meth:`forward` on every edge with those edge
        weights (a zero weight on one node set's diagonal stands for "no self-loop", and the
        mean divides by N - 1 then, as on the edge list). Sources are ``x`` itself unless given.
        gamma's first Linear is computed once per node (``W(x_i - x_j) = Wx_i - Wx_j``), so a
        layer costs O(N^2 h^2) instead of O(N^2 d h); memory O(chunk N h)."""
        s = x if sources is None else sources
        n_src = s.shape[0] - (1 if sources is None else 0)
        if n_src <= 0:
            raise ParameterError("a node needs at least one neighbour")
        lin1 = cast(nn.Linear, self.gamma[0])
        a, b = x @ lin1.weight.T + lin1.bias, s @ lin1.weight.T  # (Nt, h), (Ns, h)
        linear_tail = self.aggr != "max" and self.gamma_layers <= 2
        out = []
        for start in range(0, x.shape[0], chunk):
            w = weights[start:start + chunk]
            h1 = torch.relu(a[start:start + chunk].unsqueeze(1) - b.unsqueeze(0))  # (c, Ns, h)
            if linear_tail:  # a trailing Linear commutes with a weighted sum: apply it once per node
                total = torch.einsum("cs,csh->ch", w, h1)
                if self.gamma_layers == 2:
                    lin2 = cast(nn.Linear, self.gamma[2])
                    total = total @ lin2.weight.T + w.sum(1, keepdim=True) * lin2.bias
                out.append(total / n_src if self.aggr == "mean" else total)
                continue
            msg = self.gamma[2:](h1) * w.unsqueeze(-1)
            if self.aggr == "max":
                if sources is None:  # no self-loop: node i is not its own neighbour
                    rows = torch.arange(msg.shape[0], device=x.device)
                    msg = msg.clone()
                    msg[rows, rows + start] = float("-inf")
                out.append(msg.amax(dim=1))
            else:
                total = msg.sum(dim=1)
                out.append(total / n_src if self.aggr == "mean" else total)
        return self.phi(self._phi_input(x, torch.cat(out), self._relation_input(x, relation_edges, sources)))

    def _dense(self, x: torch.Tensor, s: torch.Tensor, exclude_self: bool, chunk: int) -> torch.Tensor:
        outs = []
        for start in range(0, x.shape[0], chunk):
            xt = x[start:start + chunk]
            msg = self.gamma(xt.unsqueeze(1) - s.unsqueeze(0))  # (c, Ns, h)
            if exclude_self:
                rows = torch.arange(xt.shape[0], device=x.device)
                mask = torch.ones(xt.shape[0], s.shape[0], dtype=torch.bool, device=x.device)
                mask[rows, rows + start] = False
                if self.aggr == "max":
                    msg = msg.masked_fill(~mask.unsqueeze(-1), float("-inf"))
                else:
                    msg = msg * mask.unsqueeze(-1)
            if self.aggr == "max":
                outs.append(msg.amax(dim=1))
            else:
                total = msg.sum(dim=1)
                outs.append(total / (s.shape[0] - (1 if exclude_self else 0)) if self.aggr == "mean" else total)
        return torch.cat(outs)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, hidden={self.hidden}, "
                f"gamma_layers={self.gamma_layers}, aggr={self.aggr!r}"
                + (f", relations={self.relations})" if self.relations else ")"))
