"""The relation terms of a relation-aware GrahAM layer against a dense loop written from the
formula: m^r_i = AGG_{j in N_r(i)} gamma_r(x_i - x_j), 0 where i has no r-neighbour."""

import pytest
import torch

from graham.errors import ParameterError
from graham.nn.relational import RelationTerms


def _dense(terms: RelationTerms, x: torch.Tensor, edges, x_dst=None) -> torch.Tensor:
    dst = x if x_dst is None else x_dst
    out = []
    for gamma, e in zip(terms.gammas, edges):
        m = torch.zeros(dst.shape[0], terms.hidden, dtype=x.dtype)
        for i in range(dst.shape[0]):
            sources = e[0][e[1] == i].tolist()
            if not sources:
                continue
            msgs = torch.stack([gamma(dst[i] - x[j]) for j in sources])
            m[i] = {"mean": msgs.mean(0), "sum": msgs.sum(0), "max": msgs.amax(0)}[terms.aggr]
        out.append(m)
    return torch.cat(out, dim=1)


def _edges(n_src, n_dst, n_edges, gen):
    """Random edges j -> i, without duplicates, a few targets left without any."""
    pairs = {(int(torch.randint(n_src, (1,), generator=gen)), int(torch.randint(n_dst - 2, (1,), generator=gen)))
             for _ in range(n_edges)}
    return torch.tensor(sorted(pairs), dtype=torch.long).T


@pytest.mark.parametrize("aggr", ["mean", "sum", "max"])
@pytest.mark.parametrize("gamma_layers", [1, 2, 3])
def test_relation_terms_are_the_formula(aggr, gamma_layers):
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(3)
    terms = RelationTerms(6, 5, relations=3, gamma_layers=gamma_layers, aggr=aggr).double()
    x = torch.randn(12, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    edges = [_edges(12, 12, 30, gen), _edges(12, 12, 5, gen), torch.zeros(2, 0, dtype=torch.long)]
    got, want = terms(x, edges), _dense(terms, x, edges)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert (got[-2:] == 0).all() and (got[:, 10:] == 0).all()  # no neighbour, no relation: 0
    g1, = torch.autograd.grad(got.sum(), x)
    g2, = torch.autograd.grad(want.sum(), x)
    torch.testing.assert_close(g1, g2, rtol=1e-8, atol=1e-8)


def test_bipartite_targets_read_their_sources():
    """New tracks (targets) attached to reference tracks (sources) by relation edges."""
    gen = torch.Generator().manual_seed(1)
    terms = RelationTerms(4, 3, relations=1).double()
    ref, new = torch.randn(9, 4, dtype=torch.float64, generator=gen), torch.randn(4, 4, dtype=torch.float64, generator=gen)
    edges = [_edges(9, 4, 12, gen)]
    torch.testing.assert_close(terms(ref, edges, x_dst=new), _dense(terms, ref, edges, x_dst=new))


def test_relation_terms_refuse_what_they_cannot_read():
    with pytest.raises(ParameterError, match="relations"):
        RelationTerms(4, 3, relations=0)
    with pytest.raises(ParameterError, match="aggr"):
        RelationTerms(4, 3, relations=1, aggr="median")
    with pytest.raises(ParameterError, match="reads 2 relations"):
        RelationTerms(4, 3, relations=2)(torch.randn(3, 4), [torch.zeros(2, 0, dtype=torch.long)])


# -- the relation-aware layer and GNN ---------------------------------------------------------
def _layer_dense(conv, x, relation_edges):
    """x_i' = phi(x_i || mean_{j != i} gamma(x_i - x_j) || m^1_i || ... || m^R_i), loop by loop."""
    n = x.shape[0]
    audio = torch.stack([torch.stack([conv.gamma(x[i] - x[j]) for j in range(n) if j != i]).mean(0) for i in range(n)])
    rel = _dense(conv.relation_terms, x, relation_edges)
    return conv.phi(torch.cat([x, audio, rel], dim=1))


def test_the_relation_aware_layer_is_the_formula_on_every_path():
    from graham.nn.graham_conv import GrahamConv, complete_edge_index

    gen = torch.Generator().manual_seed(2)
    torch.manual_seed(5)
    conv = GrahamConv(6, 4, hidden=5, relations=2).double()
    x = torch.randn(10, 6, dtype=torch.float64, generator=gen)
    rel = [_edges(10, 10, 16, gen), _edges(10, 10, 6, gen)]
    want = _layer_dense(conv, x, rel)
    torch.testing.assert_close(conv.forward_complete(x, relation_edges=rel), want)  # sorted sums, folded tail
    torch.testing.assert_close(conv(x, complete_edge_index(10), relation_edges=rel), want)  # PyG reference
    ones = torch.ones(10, 10, dtype=torch.float64) - torch.eye(10, dtype=torch.float64)
    torch.testing.assert_close(conv.forward_weighted(x, ones, relation_edges=rel), want)  # weighted, all weights 1


def test_without_relation_edges_the_layer_is_the_papers():
    """A relation-aware layer whose relations link nobody computes the paper's layer with its
    phi's audio columns; a layer without relations keeps today's parameters, bit for bit."""
    from graham.nn.graham_conv import GrahamConv

    torch.manual_seed(0)
    plain = GrahamConv(6, 4, hidden=5)
    torch.manual_seed(0)
    again = GrahamConv(6, 4, hidden=5, relations=0)
    assert list(plain.state_dict()) == list(again.state_dict())
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in plain.state_dict().items())
    related = GrahamConv(6, 4, hidden=5, relations=2)
    with torch.no_grad():  # the plain layer with the related one's weights, its relation columns aside
        for name, value in related.state_dict().items():
            if name in plain.state_dict():
                target = plain.state_dict()[name]
                target.copy_(value[:, :6 + 5] if name == "phi.0.weight" else value)
    x = torch.randn(8, 6)
    nobody = [torch.zeros(2, 0, dtype=torch.long)] * 2
    torch.testing.assert_close(related.forward_complete(x, relation_edges=nobody), plain.forward_complete(x))
    with pytest.raises(ParameterError, match="pass their edges"):
        related.forward_complete(x)
    with pytest.raises(ParameterError, match="no relations"):
        plain.forward_complete(x, relation_edges=nobody)


def test_a_gnn_config_without_relations_writes_what_it_wrote_before():
    from graham.nn.gnn import GNNConfig

    assert "relations" not in GNNConfig().to_dict()
    cfg = GNNConfig(relations=["album", "artist"])
    assert cfg.relations == ("album", "artist") and GNNConfig.from_dict(cfg.to_dict()) == cfg
    assert GNNConfig.from_dict(GNNConfig().to_dict()) == GNNConfig()
    with pytest.raises(ParameterError, match="distinct"):
        GNNConfig(relations=("album", "album"))


def test_a_new_track_attached_by_its_album_reads_its_album_mates():
    """Inductive: a new node gets relation messages from the reference nodes its edges name,
    as the formula says, and the GNN refuses a graph without the relations it was built with."""
    from graham.nn.gnn import GNNConfig, GrahamGNN
    from graham.nn.graphs import Graph

    torch.manual_seed(1)
    gnn = GrahamGNN(6, 3, GNNConfig(graph="complete", relations=("album",), band_statistics=False)).double().eval()
    gen = torch.Generator().manual_seed(3)
    ref, new = torch.randn(9, 6, dtype=torch.float64, generator=gen), torch.randn(2, 6, dtype=torch.float64, generator=gen)
    ref_graph = Graph(relations=(_edges(9, 9, 14, gen),))
    attach = Graph(relations=(torch.tensor([[0, 3, 5], [0, 0, 1]]),))  # refs 0, 3 -> new 0; ref 5 -> new 1
    got = gnn.forward_inductive(ref, new, graph=ref_graph, attach=attach)
    # the first layer of new node 0, from the formula: every reference node on the audio side, refs 0 and 3 on the album side
    conv = gnn.convs[0]
    audio = torch.stack([conv.gamma(new[0] - ref[j]) for j in range(9)]).mean(0)
    album = torch.stack([conv.relation_terms.gammas[0](new[0] - ref[j]) for j in (0, 3)]).mean(0)
    first = conv.phi(torch.cat([new[0], audio, album]))
    states = gnn.reference_states(ref, ref_graph)
    torch.testing.assert_close(conv.forward_complete(new[:1], sources=states[0], relation_edges=[torch.tensor([[0, 3],
                                                                                                              [0, 0]])]),
                               first.unsqueeze(0))
    assert got.shape == (2, 3) and torch.isfinite(got).all()
    with pytest.raises(ParameterError, match="relations album"):
        gnn(ref, Graph())


def test_relation_edges_carry_what_the_features_lack():
    """Features that say nothing of the class, albums that do, labels as node inputs: the GNN
    with the album relation reads the labelled album mates of an unlabelled track and gets its
    class; the same GNN without the relation cannot (chance is 50 %)."""
    from graham.nn.gnn import GNNConfig
    from graham.nn.graphs import Graph
    from graham.presets import GNNTrainConfig
    from graham.train.gnn import known_labels, train_gnn

    gen = torch.Generator().manual_seed(0)
    n = 120  # 20 albums of 6 tracks, each album of one class of 2
    album = torch.arange(n) // 6
    y = (album % 2).numpy()
    x = torch.randn(n, 8, generator=gen).numpy()  # noise
    rel = torch.tensor([(j, i) for i in range(n) for j in range(n) if i != j and album[i] == album[j]]).T
    labelled = torch.tensor([i for i in range(n) if i % 6 < 2]).numpy()  # two labelled tracks per album
    test = torch.tensor([i for i in range(n) if i % 6 >= 2]).numpy()
    train = GNNTrainConfig(epochs=200, lr=1e-2, val_fraction=0.0, patience=None, seed=0)
    accs = {}
    for name, relations, graph in (("with", ("album",), Graph(relations=(rel,))), ("without", (), None)):
        cfg = GNNConfig(graph="complete", relations=relations, label_input=True, band_statistics=False, smooth=False)
        res = train_gnn(x, y, labelled, 2, config=cfg, train=train, graph=graph)
        xs = torch.as_tensor((x - res.mean) / res.scale, dtype=torch.float32)
        with torch.no_grad():
            pred = res.model(xs, graph, labels=known_labels(y, labelled, n)).argmax(1).numpy()
        accs[name] = float((pred[test] == y[test]).mean())
    assert accs["with"] >= 0.95 and accs["without"] <= 0.7, accs


def test_correct_and_smooth_spreads_labels_along_relations():
    """Noise for features, albums for classes: smoothing over the kNN graph alone leaves the
    unlabelled tracks near chance; with the album edges joined, their album mates' labels reach them."""
    from graham.nn.propagate import SmoothConfig, correct_and_smooth

    gen = torch.Generator().manual_seed(0)
    n = 120
    album = torch.arange(n) // 6
    y = album % 2
    features = torch.randn(n, 8, generator=gen)
    proba = torch.full((n, 2), 0.5)
    labelled = torch.tensor([i for i in range(n) if i % 6 == 0])
    test = torch.tensor([i for i in range(n) if i % 6])
    rel = torch.tensor([(j, i) for i in range(n) for j in range(n) if i != j and album[i] == album[j]]).T
    cfg = SmoothConfig(k=5)
    plain = correct_and_smooth(proba, features, y[labelled], labelled, cfg)
    related = correct_and_smooth(proba, features, y[labelled], labelled, cfg, relation_edges=rel)
    acc = {name: float((s[test].argmax(1) == y[test]).float().mean()) for name, s in (("plain", plain),
                                                                                     ("related", related))}
    assert acc["related"] >= 0.85 and acc["related"] - acc["plain"] >= 0.25, acc  # noise kNN edges dilute them
