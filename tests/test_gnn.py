import numpy as np
import pytest
import torch

from graham.errors import ParameterError
from graham.nn import GNNConfig, GrahamConv, GrahamGNN, complete_edge_index, knn_graph
from graham.nn.graphs import Graph
from graham.train.gnn import GNNTrainConfig, train_gnn


def _grads(out, params):
    return torch.autograd.grad(out.square().sum() + out.sum(), params)


@pytest.mark.parametrize("aggr", ["mean", "sum", "max"])
@pytest.mark.parametrize("gamma_layers", [1, 2, 3])
@pytest.mark.parametrize("self_loops", [False, True])
def test_fast_complete_path_equals_pyg_message_passing(aggr, gamma_layers, self_loops):
    torch.manual_seed(0)
    conv = GrahamConv(6, 5, hidden=9, gamma_layers=gamma_layers, aggr=aggr).double()
    x = torch.randn(23, 6, dtype=torch.float64, requires_grad=True)
    ref = conv(x, complete_edge_index(23, self_loops=self_loops))
    fast = conv.forward_complete(x, self_loops=self_loops, chunk=7)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)
    params = [x] + list(conv.parameters())
    for g_fast, g_ref in zip(_grads(fast, params), _grads(ref, params)):
        torch.testing.assert_close(g_fast, g_ref, rtol=1e-9, atol=1e-9)


def test_sorted_path_handles_ties():
    conv = GrahamConv(3, 2, hidden=4, gamma_layers=1).double()
    x = torch.tensor([[1.0, 2.0, 3.0]] * 4 + [[0.0, 0.0, 1.0]] * 3, dtype=torch.float64)
    torch.testing.assert_close(conv.forward_complete(x), conv(x, complete_edge_index(7)))


def test_inductive_sources_equal_a_bipartite_pyg_graph():
    torch.manual_seed(1)
    for aggr in ("mean", "sum", "max"):
        conv = GrahamConv(4, 3, hidden=6, gamma_layers=1 if aggr == "max" else 2, aggr=aggr).double()
        ref, new = torch.randn(15, 4, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
        nodes = torch.cat([ref, new])
        src = torch.arange(15).repeat(4)
        dst = torch.arange(15, 19).repeat_interleave(15)
        expected = conv(nodes, torch.stack([src, dst]))[15:]
        torch.testing.assert_close(conv.forward_complete(new, sources=ref), expected)


def test_messages_are_asymmetric():
    torch.manual_seed(0)
    conv = GrahamConv(4, 4, hidden=8)
    xi, xj = torch.randn(1, 4), torch.randn(1, 4)
    assert not torch.allclose(conv.message(xi, xj), conv.message(xj, xi))


def test_knn_graph_by_cosine():
    x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [-1.0, 0.0]])
    ei = knn_graph(x, 1, chunk=2)
    assert ei.shape == (2, 5)
    pairs = set(map(tuple, ei.T.tolist()))
    assert {(1, 0), (0, 1), (3, 2), (2, 3)} <= pairs
    with pytest.raises(ParameterError):
        knn_graph(x, 5)
    model = GrahamGNN(2, 3, GNNConfig(hidden=8))
    assert model(x, Graph(knn_graph(x, 2))).shape == (5, 3)


def _blobs(n=240, classes=4, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    return rng.normal(0, 1, (classes, dim))[y] * 3 + rng.normal(0, 1, (n, dim)), y


def test_semi_supervised_training_and_inductive_prediction():
    x, y = _blobs()
    ref, new = np.arange(180), np.arange(180, 240)
    labelled = ref[::3]  # a third of the reference nodes carry labels
    res = train_gnn(x[ref], y[ref], labelled, 4, config=GNNConfig(hidden=32), train=GNNTrainConfig(epochs=150, lr=1e-2))
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    xs = torch.tensor((x - res.mean) / res.scale, dtype=torch.float32)
    with torch.no_grad():
        pred = res.model.forward_inductive(xs[ref], xs[new]).argmax(1).numpy()
        one_by_one = np.array([int(res.model.forward_inductive(xs[ref], xs[i:i + 1]).argmax()) for i in new])
    assert (pred == y[new]).mean() >= 0.9
    np.testing.assert_array_equal(pred, one_by_one)  # a new node's result does not depend on the other new nodes


def test_early_stopping_keeps_the_best_state():
    x, y = _blobs(seed=2)
    cfg = GNNTrainConfig(epochs=400, lr=1e-2, val_fraction=0.2, patience=50, refit=False)
    res = train_gnn(x, y, np.arange(200), 4, train=cfg)
    assert len(res.history) < 400 and any("val_acc" in h for h in res.history)
    checked = [h for h in res.history if "val_acc" in h]
    assert res.best_epoch < res.history[-1]["epoch"]  # it stopped after the best epoch
    assert res.history[res.best_epoch]["val_acc"] == max(h["val_acc"] for h in checked)
    # The returned weights are those after epoch best_epoch: a run told to stop there has them.
    short = train_gnn(x, y, np.arange(200), 4,
                      train=GNNTrainConfig(epochs=res.best_epoch + 1, lr=1e-2, val_fraction=0.2, patience=None,
                                           refit=False))
    for k, v in res.model.state_dict().items():
        torch.testing.assert_close(v, short.model.state_dict()[k])


def test_refit_trains_on_every_labelled_node_for_the_chosen_epochs():
    x, y = _blobs(seed=3)
    res = train_gnn(x, y, np.arange(200), 4, train=GNNTrainConfig(epochs=300, lr=1e-2, val_fraction=0.2, patience=50))
    assert res.best_epoch >= 0 and res.history[-1].get("refit")
    plain = train_gnn(x, y, np.arange(200), 4, train=GNNTrainConfig(epochs=res.best_epoch + 1, lr=1e-2, val_fraction=0.0,
                                                                      patience=None, refit=False))
    xt = torch.as_tensor((x - res.mean) / res.scale, dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(res.model(xt), plain.model(xt))


def test_gnn_rejects_bad_config():
    with pytest.raises(ParameterError):
        GNNConfig(layers=0)
    with pytest.raises(ParameterError):
        GrahamConv(3, 3, aggr="median")


def test_edge_weights_scale_messages_and_come_from_the_pair_head():
    from graham.nn import PairHead, siamese_edge_weights

    torch.manual_seed(0)
    conv = GrahamConv(4, 3, hidden=5, aggr="sum").double()
    x = torch.randn(6, 4, dtype=torch.float64)
    ei = complete_edge_index(6)
    torch.testing.assert_close(conv(x, ei, torch.ones(ei.shape[1], dtype=torch.float64)), conv(x, ei))
    zero = conv(x, ei, torch.zeros(ei.shape[1], dtype=torch.float64))
    torch.testing.assert_close(zero, conv.phi(torch.cat([x, torch.zeros(6, 5, dtype=torch.float64)], 1)))
    head = PairHead(4, 8).eval()
    w = siamese_edge_weights(head, x.float(), ei, chunk=7)
    assert w.shape == (30,) and ((w > 0) & (w < 1)).all()
    torch.testing.assert_close(w[0], torch.sigmoid(head(x.float()[ei[1, :1]], x.float()[ei[0, :1]]))[0])
    model = GrahamGNN(4, 2, GNNConfig(hidden=8))
    assert model(x.float(), Graph(knn_graph(x.float(), 3), torch.rand(18))).shape == (6, 2)
