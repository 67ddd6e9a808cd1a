"""t-SNE layouts of embeddings (scikit-learn) and how tightly the genres cluster (silhouette)."""

from __future__ import annotations

import numpy as np
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

__all__ = ["tsne_2d", "silhouette"]


def tsne_2d(x: np.ndarray, *, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE of standardised ``x`` [shape=(N, d)] -> [shape=(N, 2)]."""
    perplexity = min(perplexity, max(2.0, (len(x) - 1) / 3))
    xs = StandardScaler().fit_transform(x)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(xs)


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette score of the classes in the standardised feature space (-1..1; higher:
    denser, better separated clusters). NaN where it is undefined: fewer than two classes, or
    as many classes as clips."""
    n_classes = len(np.unique(labels))
    if n_classes < 2 or n_classes > len(labels) - 1:
        return float("nan")
    return float(silhouette_score(StandardScaler().fit_transform(x), labels))
