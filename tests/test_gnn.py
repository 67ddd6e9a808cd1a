import numpy as np
import pytest
import torch

from graham.errors import ParameterError
from graham.nn import GNNConfig, GrahamConv, GrahamGNN, complete_edge_index, knn_graph
from graham.nn.graphs import Graph
from graham.presets import GNNTrainConfig, gnn_train_config
from graham.train.gnn import train_gnn


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
    """Two nodes joined both ways: the layer equals the paper's formula with gamma(x_i - x_j)
    written as a loop, and not the symmetric variant gamma(|x_i - x_j|), which would send both
    nodes the same message (an implementation with abs or a square would fail here)."""
    torch.manual_seed(0)
    conv = GrahamConv(4, 4, hidden=8)
    x = torch.randn(2, 4)
    edge_index = torch.tensor([[1, 0], [0, 1]])  # 1 -> 0 and 0 -> 1
    with torch.no_grad():
        out = conv(x, edge_index)
        asym = torch.stack([conv.phi(torch.cat([x[i], conv.gamma(x[i] - x[1 - i])])) for i in range(2)])
        sym = torch.stack([conv.phi(torch.cat([x[i], conv.gamma((x[i] - x[1 - i]).abs())])) for i in range(2)])
        m = conv.message(x[:1], x[1:])
    torch.testing.assert_close(out, asym)
    assert not torch.allclose(out, sym, atol=1e-3)
    assert not torch.allclose(m, conv.message(x[1:], x[:1]))


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


def test_sorted_aggregate_backward_matches_finite_differences_and_the_dense_sum():
    """The hand-written backward of sum_j relu(a_i - b_j), against torch's finite differences
    (gradcheck) and the dense sum written from the formula, across column chunks."""
    from graham.nn.sorted_sums import ReluDiffSum

    torch.manual_seed(3)
    a = torch.randn(11, 7, dtype=torch.float64, requires_grad=True)
    b = torch.randn(13, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ReluDiffSum.apply(a, b, 3), (a, b))
    dense = torch.relu(a.unsqueeze(1) - b.unsqueeze(0)).sum(1)
    torch.testing.assert_close(ReluDiffSum.apply(a, b, 3), dense, rtol=1e-12, atol=1e-12)
    g = torch.randn(11, 7, dtype=torch.float64)
    want = torch.autograd.grad(dense, (a, b), g)
    got = torch.autograd.grad(ReluDiffSum.apply(a, b, 2), (a, b), g)
    for w, h in zip(want, got):
        torch.testing.assert_close(h, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("inductive", [False, True])
def test_column_chunks_and_ties_keep_gradients_of_the_message_passing_reference(monkeypatch, inductive):
    monkeypatch.setattr(GrahamConv, "column_chunk", 3)  # hidden 8: chunks of 3, 3, 2 features
    torch.manual_seed(0)
    conv = GrahamConv(5, 4, hidden=8, gamma_layers=2, aggr="mean").double()
    x = torch.randn(17, 5, dtype=torch.float64)
    x[9:12] = x[3]  # ties between nodes
    x.requires_grad_(True)
    if inductive:
        new = torch.cat([torch.randn(4, 5, dtype=torch.float64), x[:2].detach()]).requires_grad_(True)
        src, dst = torch.arange(17).repeat(6), torch.arange(17, 23).repeat_interleave(17)
        ref = conv(torch.cat([x, new]), torch.stack([src, dst]))[17:]
        fast = conv.forward_complete(new, sources=x)
        params = [x, new] + list(conv.parameters())
    else:
        ref = conv(x, complete_edge_index(17))
        fast = conv.forward_complete(x)
        params = [x] + list(conv.parameters())
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)
    for g_fast, g_ref in zip(_grads(fast, params), _grads(ref, params)):
        torch.testing.assert_close(g_fast, g_ref, rtol=1e-9, atol=1e-9)


def test_packed_sort_equals_a_stable_argsort_on_awkward_values():
    from graham.nn.sorted_sums import sort_rows

    rng = np.random.default_rng(0)
    v = rng.standard_normal((3, 500)).astype(np.float32)
    v[0, :50] = 0.0
    v[0, 50:60] = -0.0
    v[1, ::7] = 1.5  # many ties
    v[2, :5] = [np.float32(3.4e38), -np.float32(3.4e38), np.float32(1e-45), -np.float32(1e-45), np.inf]
    values, order = sort_rows(torch.from_numpy(v))
    want = np.argsort(v, axis=1, kind="stable")
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(v, want, 1))
    # -0.0 and +0.0 are equal floats: either order is sorted; every other position is the stable one
    keep = np.take_along_axis(v, want, 1) != 0
    keep[1:] = True
    np.testing.assert_array_equal(order.numpy()[keep], want[keep])
    zeros = ~keep[0]
    assert sorted(order.numpy()[0][zeros]) == sorted(want[0][zeros])
    assert order.dtype == torch.int64


def test_float32_complete_path_matches_the_float64_reference():
    """The float32 path sorts with numpy's packed keys; check it against the float64 PyG path."""
    torch.manual_seed(2)
    conv = GrahamConv(8, 5, hidden=20, gamma_layers=2, aggr="mean")
    x = torch.randn(300, 8, requires_grad=True)
    fast = conv.forward_complete(x)
    conv64, x64 = conv.double(), x.detach().double().requires_grad_(True)
    ref = conv64(x64, complete_edge_index(300))
    torch.testing.assert_close(fast.double(), ref, rtol=1e-4, atol=1e-4)
    conv.float()
    g_fast = torch.autograd.grad(fast.square().sum(), x)[0]
    g_ref = torch.autograd.grad(ref.square().sum(), x64)[0]
    torch.testing.assert_close(g_fast.double(), g_ref, rtol=1e-3, atol=1e-4)


def test_fused_relu_dropout_matches_torch_forward_and_backward():
    """The GNN's dropout(relu(h)) keeps only its output for the backward; the numbers must be
    torch's own, mask included (the same draws from the same seed)."""
    from graham.nn import GNNConfig, GrahamGNN

    gnn = GrahamGNN(8, 3, GNNConfig(dropout=0.3)).train()
    h = torch.randn(200, 16, requires_grad=True)
    g = torch.randn(200, 16)
    torch.manual_seed(5)
    out = gnn._act(h)
    (out * g).sum().backward()
    fused_grad, h.grad = h.grad.clone(), None
    torch.manual_seed(5)
    ref = torch.nn.functional.dropout(torch.relu(h), 0.3, training=True)
    (ref * g).sum().backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(fused_grad, h.grad)
    assert 0.5 < (out == 0).float().mean() < 0.8  # about 1 - 0.5 * 0.7 of the units are off
    gnn.eval()
    torch.testing.assert_close(gnn._act(h), torch.relu(h))


def test_a_training_pass_keeps_few_node_sized_tensors():
    """What the backward keeps, in units of one (N, hidden) float32 tensor, for the default GNN
    (2 layers, d = 128 = 2 units): the input, and per layer the sort's permutation and counts
    (int32), gamma's sums, phi's hidden activation and the layer's output. Holding the
    aggregate after gamma's trailing Linear, relu's output or dropout's mask again would cost
    1 to 1.25 units a layer: 320 MB a layer at a million nodes."""
    from graham.nn import GNNConfig, GrahamGNN

    n, hidden = 3000, 64
    model = GrahamGNN(128, 10, GNNConfig(hidden=hidden)).train()
    x = torch.randn(n, 128)
    kept = {}

    def pack(t):
        if t.numel() >= n:
            kept[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = torch.nn.functional.cross_entropy(model(x), torch.randint(0, 10, (n,)))
    units = sum(kept.values()) / (n * hidden * 4)
    assert units <= 12.5, units
    loss.backward()  # and the backward still runs on what was kept
    assert all(p.grad is not None for p in model.parameters())


def test_label_inputs_reach_the_messages_and_only_known_labels_are_read():
    """With ``label_input``, a node's prediction moves with its neighbours' known labels (the
    messages carry them), the labels of unlabelled nodes are never read in training, and a
    labelled node never sees its own label in a training step."""
    from graham.train.gnn import known_labels

    x, y = _blobs(n=120, seed=3)
    labelled = np.arange(0, 120, 2)
    cfg = GNNConfig(hidden=16, label_input=True)
    res = train_gnn(x, y, labelled, 4, config=cfg, train=GNNTrainConfig(epochs=60, lr=1e-2))
    y_other = y.copy()
    y_other[1::2] = (y[1::2] + 1) % 4  # every unlabelled node's label changed
    again = train_gnn(x, y_other, labelled, 4, config=cfg, train=GNNTrainConfig(epochs=60, lr=1e-2))
    for k, v in res.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k
    xs = torch.tensor((x - res.mean) / res.scale, dtype=torch.float32)
    with torch.no_grad():
        with_labels = res.model(xs, labels=known_labels(y, labelled, len(y)))
        without = res.model(xs)
    assert not torch.allclose(with_labels, without)
    # A training step hides the labels of the nodes that give loss: the inputs of one step.
    shown = []
    orig = res.model.__class__.inputs

    def spy(self, x_, labels=None):
        if labels is not None:
            shown.append(labels.clone())
        return orig(self, x_, labels)

    import unittest.mock as mock

    with mock.patch.object(res.model.__class__, "inputs", spy):
        train_gnn(x, y, labelled, 4, config=cfg, train=GNNTrainConfig(epochs=3, lr=1e-2))
    for lab in shown:
        known = torch.nonzero(lab >= 0).flatten().numpy()
        assert set(known) < set(labelled) and len(known) == len(labelled) // 2
        assert (lab[known].numpy() == y[known]).all()


def test_the_paper_preset_keeps_the_papers_graph_and_the_cpu_preset_the_measured_one():
    from graham.presets import gnn_config

    paper, cpu = gnn_config("paper"), gnn_config("cpu")
    assert (paper.graph, paper.band_statistics, paper.smooth, paper.label_input) == ("complete", False, False, False)
    assert (cpu.graph, cpu.band_statistics, cpu.smooth, cpu.label_input) == ("knn", True, True, False)


def test_no_generated_source_is_left_in_the_temp_folder(tmp_path):
    """PyG writes each MessagePassing class's generated propagate to the temp folder; a process
    that builds GrahAM's layer and runs correct & smooth leaves none of them there."""
    import os
    import subprocess
    import sys

    script = ("import torch\n"
              "from graham.nn.graham_conv import GrahamConv\n"
              "from graham.nn.propagate import correct_and_smooth\n"
              "conv = GrahamConv(4, 3)\n"
              "x = torch.randn(6, 4)\n"
              "y = conv(x, torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]]))\n"
              "p = correct_and_smooth(torch.softmax(torch.randn(6, 2), 1), x, torch.tensor([0, 1]),"
              " torch.tensor([0, 1]))\n"
              "import tempfile; print(tempfile.gettempdir())\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TMPDIR": str(tmp)})
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith(str(tmp))
    assert sorted(p.name for p in tmp.iterdir()) == []


def test_node_features_can_be_standardised_over_every_node():
    """standardise="all" (the default): the statistics of every node of the graph (features
    only, no label read), not of the labelled ones; "labelled" (the paper preset): those of the
    labelled nodes alone; anything else is refused."""
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (40, 6)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    labelled = np.arange(8)
    res = train_gnn(x, y, labelled, 2, train=GNNTrainConfig(epochs=2))
    np.testing.assert_allclose(res.mean, x.mean(0), rtol=1e-6)
    np.testing.assert_allclose(res.scale, x.std(0) + 1e-6, rtol=1e-6)
    res = train_gnn(x, y, labelled, 2, train=gnn_train_config("paper", epochs=2))
    np.testing.assert_allclose(res.mean, x[labelled].mean(0), rtol=1e-6)
    np.testing.assert_allclose(res.scale, x[labelled].std(0) + 1e-6, rtol=1e-6)
    with pytest.raises(ParameterError, match="standardise"):
        GNNTrainConfig(standardise="test")
