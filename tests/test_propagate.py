"""Correct and Smooth against a dense reference written from the paper's equations (Huang et
al. 2021, eq. 2-5, with the reference code's clamping), on a brute-force kNN graph."""

import numpy as np
import pytest
import torch

from graham.errors import ParameterError
from graham.nn.propagate import SmoothConfig, correct_and_smooth, symmetric_knn_edges


def _dense_knn(x: np.ndarray, k: int) -> np.ndarray:
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = z @ z.T
    np.fill_diagonal(sim, -np.inf)
    a = np.zeros_like(sim)
    for i in range(len(x)):
        for j in np.argsort(-sim[i])[:k]:
            a[i, j] = a[j, i] = 1.0
    return a


def _reference(proba, x, labels, labelled, k, a1, a2, iters):
    a = _dense_knn(x, k)
    d = a.sum(1)
    s = a / np.sqrt(np.outer(d, d))
    y = np.eye(proba.shape[1])[labels]
    e0 = np.zeros_like(proba)
    e0[labelled] = y - proba[labelled]
    e = e0.copy()
    for _ in range(iters):
        e = np.clip((1 - a1) * e0 + a1 * s @ e, -1, 1)
    sigma = np.abs(e0[labelled]).sum() / len(labelled)
    corrected = proba + sigma / np.abs(e).sum(1, keepdims=True) * e
    g0 = corrected.copy()
    g0[labelled] = y
    g = g0.copy()
    for _ in range(iters):
        g = np.clip((1 - a2) * g0 + a2 * s @ g, 0, 1)
    return g


def test_correct_and_smooth_matches_the_dense_formula():
    rng = np.random.default_rng(0)
    n, c = 40, 3
    x = rng.normal(size=(n, 5))
    proba = rng.dirichlet(np.ones(c), size=n)
    labels = rng.integers(0, c, n)
    labelled = np.sort(rng.choice(n, 12, replace=False))
    cfg = SmoothConfig(k=4, alpha_correct=0.7, alpha_smooth=0.6, iterations=30)
    got = correct_and_smooth(torch.tensor(proba), torch.tensor(x), labels[labelled], labelled, cfg).numpy()
    want = _reference(proba, x, labels[labelled], labelled, 4, 0.7, 0.6, 30)
    np.testing.assert_allclose(got, want, atol=1e-6)  # PyG normalises the edge weights in float32


def test_the_graph_is_the_symmetric_knn_graph():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(25, 4))
    e = symmetric_knn_edges(torch.tensor(x), 3).numpy()
    a = np.zeros((25, 25))
    a[e[1], e[0]] = 1
    np.testing.assert_array_equal(a, _dense_knn(x, 3))
    assert e.shape[1] == len({tuple(p) for p in e.T})  # each edge once per direction


def test_smoothing_makes_neighbours_agree():
    """Two tight clusters; the base classifier gets a third of one cluster wrong. One labelled
    clip per cluster is enough for the graph to put every clip right."""
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 0.05, (15, 3)) + [1, 0, 0], rng.normal(0, 0.05, (15, 3)) + [0, 1, 0]])
    truth = np.repeat([0, 1], 15)
    proba = np.where(truth[:, None] == np.arange(2), 0.7, 0.3)
    proba[:5] = [0.4, 0.6]  # wrong, and not by much
    labelled = np.array([10, 20])
    out = correct_and_smooth(torch.tensor(proba), torch.tensor(x), truth[labelled], labelled, SmoothConfig(k=5))
    assert (proba.argmax(1) != truth).sum() == 5
    np.testing.assert_array_equal(out.argmax(1).numpy(), truth)


def test_bad_settings_are_parameter_errors():
    with pytest.raises(ParameterError):
        SmoothConfig(alpha_smooth=1.0)
    with pytest.raises(ParameterError):
        correct_and_smooth(torch.ones(3, 2) / 2, torch.randn(3, 2), [0], [], SmoothConfig(k=1))


def test_a_new_node_gets_the_fixed_point_of_its_own_row():
    """attach_smoothed against the dense iterations over the reference nodes plus new nodes that
    receive from their k nearest references (weight 1/sqrt(k d_j)) and send to nobody: the
    reference side is what it was without them, and the new rows are their fixed points."""
    from graham.nn.propagate import attach_smoothed, smooth_reference

    rng = np.random.default_rng(4)
    n, m, c, k = 30, 5, 3, 4
    x = rng.normal(size=(n + m, 6))
    proba = rng.dirichlet(np.ones(c), size=n + m)
    labels = rng.integers(0, c, n)
    labelled = np.sort(rng.choice(n, 10, replace=False))
    cfg = SmoothConfig(k=k, alpha_correct=0.8, alpha_smooth=0.7, iterations=200)
    ref = smooth_reference(torch.tensor(proba[:n]), torch.tensor(x[:n]), labels[labelled], labelled, cfg)
    got = attach_smoothed(ref, torch.tensor(proba[n:]), torch.tensor(x[n:])).numpy()

    a = _dense_knn(x[:n], k)
    deg = a.sum(1)
    s = np.zeros((n + m, n + m))
    s[:n, :n] = a / np.sqrt(np.outer(deg, deg))
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    for q in range(n, n + m):
        for j in np.argsort(-(z[:n] @ z[q]))[:k]:
            s[q, j] = 1 / np.sqrt(k * deg[j])
    y = np.eye(c)[labels[labelled]]
    e0 = np.zeros((n + m, c))
    e0[labelled] = y - proba[labelled]
    e = e0.copy()
    for _ in range(200):
        e = np.clip(0.2 * e0 + 0.8 * s @ e, -1, 1)
    sigma = np.abs(e0[labelled]).sum() / len(labelled)
    corrected = proba + sigma / np.abs(e).sum(1, keepdims=True) * e
    g0 = corrected.copy()
    g0[labelled] = y
    g = g0.copy()
    for _ in range(200):
        g = np.clip(0.3 * g0 + 0.7 * s @ g, 0, 1)
    np.testing.assert_allclose(ref.scores.numpy(), g[:n], atol=1e-6)
    np.testing.assert_allclose(got, g[n:], atol=1e-6)


def test_graph_coordinates_are_the_embedding_columns_standardised_with_the_node_statistics():
    """The embedding is the first d columns of the node features; its coordinates use those
    columns' mean and scale, in numpy (training) and torch (prediction) alike. Catches the
    band statistics' columns used, or the statistics of the embeddings themselves."""
    from graham.nn.propagate import graph_coordinates

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(5, 3))
    mean, scale = rng.normal(size=7), rng.uniform(1, 2, 7)
    want = np.array([[(emb[i, j] - mean[j]) / scale[j] for j in range(3)] for i in range(5)])
    np.testing.assert_allclose(graph_coordinates(emb, mean, scale), want)
    got = graph_coordinates(torch.as_tensor(emb), torch.as_tensor(mean), torch.as_tensor(scale))
    np.testing.assert_allclose(got.numpy(), want)
