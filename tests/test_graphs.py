"""Graph kinds for the GNN, checked against a dense loop written from the paper's eq. 4."""

import numpy as np
import pytest
import torch

from graham.errors import ParameterError
from graham.nn import GNNConfig, GrahamConv, GrahamGNN, PairHead
from graham.nn.graphs import Graph, attach_graph, build_graph, knn_graph


def eq4_loop(conv: GrahamConv, x_dst, x_src, neighbours, weights=None):
    """x_i' = phi_g(x_i || AGG_{j in N(i)} w_ij gamma(x_i - x_j)), one node and one neighbour at a
    time, from the formula (mean, sum or max)."""
    out = []
    for i, nbrs in enumerate(neighbours):
        msgs = []
        for n, j in enumerate(nbrs):
            m = conv.gamma(x_dst[i] - x_src[j])
            msgs.append(m if weights is None else m * weights[i][n])
        msgs = torch.stack(msgs)
        agg = {"mean": msgs.mean(0), "sum": msgs.sum(0), "max": msgs.max(0).values}[conv.aggr]
        out.append(conv.phi(torch.cat([x_dst[i], agg])))
    return torch.stack(out)


def brute_knn(targets, sources, k, exclude_self):
    zt = targets / targets.norm(dim=1, keepdim=True)
    zs = sources / sources.norm(dim=1, keepdim=True)
    sim = zt @ zs.T
    if exclude_self:
        sim.fill_diagonal_(-np.inf)
    return [set(sim[i].topk(k).indices.tolist()) for i in range(len(targets))]


@pytest.mark.parametrize("aggr", ["mean", "sum", "max"])
def test_complete_fast_path_is_eq4(aggr):
    torch.manual_seed(0)
    conv = GrahamConv(5, 4, hidden=6, aggr=aggr).double()
    x = torch.randn(9, 5, dtype=torch.float64)
    nbrs = [[j for j in range(9) if j != i] for i in range(9)]
    with torch.no_grad():
        torch.testing.assert_close(conv.forward_complete(x), eq4_loop(conv, x, x, nbrs))


@pytest.mark.parametrize("aggr", ["mean", "sum", "max"])
def test_knn_and_weighted_message_passing_is_eq4(aggr):
    torch.manual_seed(1)
    conv = GrahamConv(5, 4, hidden=6, aggr=aggr).double()
    x = torch.randn(12, 5, dtype=torch.float64)
    ei = knn_graph(x, 3)
    w = torch.rand(ei.shape[1], dtype=torch.float64)
    nbrs = [[] for _ in range(12)]
    wts = [[] for _ in range(12)]
    for e in range(ei.shape[1]):
        nbrs[int(ei[1, e])].append(int(ei[0, e]))
        wts[int(ei[1, e])].append(w[e])
    with torch.no_grad():
        torch.testing.assert_close(conv(x, ei), eq4_loop(conv, x, x, nbrs))
        torch.testing.assert_close(conv(x, ei, w), eq4_loop(conv, x, x, nbrs, wts))


def test_knn_edges_are_the_most_cosine_similar():
    torch.manual_seed(2)
    x = torch.randn(30, 8)
    ei = knn_graph(x, 4)
    ref = brute_knn(x, x, 4, exclude_self=True)
    for i in range(30):
        assert set(ei[0, ei[1] == i].tolist()) == ref[i]
    g = build_graph("knn", x, k=100)  # k larger than the graph: every other node
    assert g.edge_index.shape[1] == 30 * 29


def test_attach_graph_connects_new_clips_to_reference_clips_only():
    torch.manual_seed(3)
    ref, new = torch.randn(20, 8), torch.randn(5, 8)
    g = attach_graph("knn", ref, new, k=3)
    truth = brute_knn(new, ref, 3, exclude_self=False)
    for i in range(5):
        assert set(g.edge_index[0, g.edge_index[1] == i].tolist()) == truth[i]
    head = PairHead(8, 16).eval()
    s = attach_graph("similarity", ref, new, head=head)
    assert s.weights.shape == (5, 20)
    with torch.no_grad():
        for i, j in ((0, 0), (2, 17), (4, 9)):
            assert float(s.weights[i, j]) == pytest.approx(float(torch.sigmoid(head(new[i:i + 1], ref[j:j + 1]))[0]),
                                                           abs=1e-6)
    assert attach_graph("complete", ref, new).is_complete


def test_similarity_graph_weights_every_edge_with_the_pair_head():
    torch.manual_seed(4)
    x = torch.randn(6, 8)
    head = PairHead(8, 16).eval()
    g = build_graph("similarity", x, head=head)
    assert g.weights.shape == (6, 6) and (g.weights.diagonal() == 0).all() and not g.is_complete
    with torch.no_grad():
        for i in range(6):
            for j in range(6):
                if i != j:
                    assert float(g.weights[i, j]) == pytest.approx(float(torch.sigmoid(head(x[i:i + 1], x[j:j + 1]))[0]),
                                                                   abs=1e-6)
    with pytest.raises(ParameterError, match="pair head"):
        build_graph("similarity", x)
    with pytest.raises(ParameterError, match="graph must be"):
        build_graph("star", x)


@pytest.mark.parametrize("aggr", ["mean", "sum", "max"])
def test_weighted_dense_layer_is_message_passing_on_every_edge(aggr):
    torch.manual_seed(6)
    conv = GrahamConv(5, 4, hidden=6, aggr=aggr).double()
    x = torch.randn(11, 5, dtype=torch.float64)
    w = torch.rand(11, 11, dtype=torch.float64)
    w.fill_diagonal_(0.0)
    ei = torch.tensor([[j, i] for i in range(11) for j in range(11) if i != j]).T
    with torch.no_grad():
        torch.testing.assert_close(conv.forward_weighted(x, w), conv(x, ei, w[ei[1], ei[0]]))
        src = torch.randn(7, 5, dtype=torch.float64)
        wb = torch.rand(11, 7, dtype=torch.float64)
        nbrs = [list(range(7))] * 11
        torch.testing.assert_close(conv.forward_weighted(x, wb, sources=src), eq4_loop(conv, x, src, nbrs, wb))


@pytest.mark.parametrize("kind", ["complete", "knn", "similarity"])
def test_inductive_prediction_on_every_graph_kind_is_eq4_from_reference_nodes(kind):
    torch.manual_seed(5)
    cfg = GNNConfig(hidden=8, layers=2, dropout=0.0, graph=kind, k=4)
    model = GrahamGNN(6, 3, cfg).double().eval()
    head = PairHead(6, 8).double().eval()
    ref, new = torch.randn(15, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    graph = build_graph(kind, ref, k=4, head=head)
    attach = attach_graph(kind, ref, new, k=4, head=head)
    with torch.no_grad():
        got = model.forward_inductive(ref, new, graph=graph, attach=attach)
        # The reference side by the formula, layer by layer; then each new node from its sources.
        r, q = ref, new
        ei = graph.edge_index if graph.edge_index is not None else None
        for conv in model.convs:
            if graph.weights is not None:
                rn = [[j for j in range(15) if j != i] for i in range(15)]
                rw = [[graph.weights[i, j] for j in rn[i]] for i in range(15)]
            elif ei is None:
                rn = [[j for j in range(15) if j != i] for i in range(15)]
                rw = None
            else:
                rn = [ei[0, ei[1] == i].tolist() for i in range(15)]
                rw = None if graph.edge_weight is None else [graph.edge_weight[ei[1] == i] for i in range(15)]
            if attach.weights is not None:
                qn, qw = [list(range(15))] * 4, [attach.weights[i] for i in range(4)]
            elif attach.edge_index is None:
                qn, qw = [list(range(15))] * 4, None
            else:
                a = attach.edge_index
                qn = [a[0, a[1] == i].tolist() for i in range(4)]
                qw = None if attach.edge_weight is None else [attach.edge_weight[a[1] == i] for i in range(4)]
            r, q = torch.relu(eq4_loop(conv, r, r, rn, rw)), torch.relu(eq4_loop(conv, q, r, qn, qw))
        torch.testing.assert_close(got, model.classifier(q))
        one_by_one = torch.cat([model.forward_inductive(ref, new[i:i + 1], graph=graph,
                                                        attach=attach_graph(kind, ref, new[i:i + 1], k=4, head=head))
                                for i in range(4)])
        torch.testing.assert_close(got, one_by_one)
    assert isinstance(graph, Graph)


@pytest.mark.parametrize("aggr", ["mean", "sum", "max"])
def test_with_self_loops_a_new_node_is_its_own_neighbour_like_every_reference_node(aggr):
    torch.manual_seed(7)
    model = GrahamGNN(4, 3, GNNConfig(hidden=6, layers=1, dropout=0.0, aggr=aggr, self_loops=True)).double().eval()
    ref, new = torch.randn(8, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    conv = model.convs[0]
    with torch.no_grad():
        want = model.classifier(torch.relu(eq4_loop(conv, new, torch.cat([ref, new]), [list(range(8)) + [8 + i]
                                                                                      for i in range(2)])))
        torch.testing.assert_close(model.forward_inductive(ref, new), want)
