"""Baselines that need no graph network: the paper's Random Forest and 2-layer network on the
Siamese embeddings, graph-based label spreading with no training, and a floor with no deep
learning at all (log-mel band statistics with logistic regression)."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading
from sklearn.utils.class_weight import compute_sample_weight

from ..errors import ParameterError

__all__ = ["BASELINES", "fit_baseline", "label_spreading", "fit_mel_floor"]

BASELINES = ("random_forest", "mlp_2layer")


def fit_baseline(name: str, x: np.ndarray, y: np.ndarray, *, seed: int = 0, balanced: bool = False):
    """A fitted scikit-learn classifier: ``random_forest`` (500 trees) or ``mlp_2layer`` (one
    hidden layer of 128 ReLU units and the output layer, Adam, standardised inputs).
    ``balanced``: every class weighs the same (the forest's ``class_weight="balanced"``, the
    network's sample weights n / (C n_c)), as the GNN's ``GNNTrainConfig(balanced=True)``; balanced accuracy
    is what the tables report."""
    if name == "random_forest":
        forest = RandomForestClassifier(n_estimators=500, random_state=seed, n_jobs=1,
                                        class_weight="balanced" if balanced else None)
        return forest.fit(x, y)
    if name == "mlp_2layer":
        model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-3, max_iter=2000,
                                                              learning_rate_init=1e-3, random_state=seed))
        weights = {"mlpclassifier__sample_weight": compute_sample_weight("balanced", y)} if balanced else {}
        return model.fit(x, y, **weights)
    raise ParameterError(f"unknown baseline {name!r}; known: {BASELINES}")


def label_spreading(x: np.ndarray, y: np.ndarray, labelled: np.ndarray, targets: np.ndarray, *,
                    n_neighbors: int = 10, alpha: float = 0.2, balanced: bool = False) -> np.ndarray:
    """Predicted classes of rows ``targets`` of ``x`` [shape=(N, d)] by scikit-learn's
    ``LabelSpreading`` with a kNN kernel over all rows of ``x`` (Zhou et al. 2004): the
    labels of rows ``labelled`` diffuse along the kNN graph of the standardised features, with
    no training. Pass only the rows that may sit in the graph (transductive: all clips;
    inductive: the training clips plus the clips to predict, one at a time or together).
    ``balanced``: each class's spread label mass divided by its share of the labelled rows
    before the argmax (a uniform prior in place of the labelled clips' class frequencies)."""
    labelled = np.asarray(labelled)
    if len(np.unique(y[labelled])) < 2:
        raise ParameterError("label spreading needs labelled clips of at least two classes")
    z = StandardScaler().fit(x[labelled]).transform(x)
    seeds = np.full(len(x), -1, dtype=np.int64)
    seeds[labelled] = y[labelled]
    k = int(min(n_neighbors, len(x) - 1))
    model = LabelSpreading(kernel="knn", n_neighbors=k, alpha=alpha, max_iter=1000).fit(z, seeds)
    if not balanced:
        return model.transduction_[np.asarray(targets)]
    share = np.array([np.mean(y[labelled] == c) for c in model.classes_])
    return model.classes_[(model.label_distributions_[np.asarray(targets)] / share).argmax(1)]


def fit_mel_floor(x: np.ndarray, y: np.ndarray, *, seed: int = 0):
    """Logistic regression (L2, C=0.1) on standardised :func:`mel_band_statistics`."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000, random_state=seed)).fit(x, y)
