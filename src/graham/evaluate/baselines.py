"""The paper's baselines on the same Siamese embeddings: Random Forest and a 2-layer network."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["BASELINES", "fit_baseline"]

BASELINES = ("random_forest", "mlp_2layer")


def fit_baseline(name: str, x: np.ndarray, y: np.ndarray, *, seed: int = 0):
    """A fitted scikit-learn classifier: ``random_forest`` (500 trees) or ``mlp_2layer`` (one
    hidden layer of 128 ReLU units and the output layer, Adam, standardised inputs)."""
    if name == "random_forest":
        model = RandomForestClassifier(n_estimators=500, random_state=seed, n_jobs=1)
    elif name == "mlp_2layer":
        model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-3, max_iter=2000,
                                                              learning_rate_init=1e-3, random_state=seed))
    else:
        raise ValueError(f"unknown baseline {name!r}; known: {BASELINES}")
    return model.fit(x, y)
