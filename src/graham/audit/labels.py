"""Labels the rest of the data disagrees with: confident learning on out-of-fold predictions.

Every clip gets class probabilities from a model that never saw it (k-fold; the folds keep a
clip's group and its duplicates together, so a copy in training cannot vouch for its twin).
cleanlab (Northcutt et al., "Confident learning", 2021) turns them into a label-quality
score per clip and flags the clips whose given label the model's calibrated thresholds
reject; the class the data suggests is the most probable one. The clip's nearest neighbours
(cosine, in the same feature space) say the same thing in another way: the share of them
labelled otherwise. The two lines of evidence rank the suspects together
(:attr:`LabelReview.suspicion`): a model's view from other folds, and the graph's view from
the clip's neighbourhood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LabelReview", "review_labels"]


@dataclass(frozen=True)
class LabelReview:
    """Per clip: out-of-fold probabilities [shape=(N, C)], label quality in [0, 1] (low:
    suspect), whether confident learning flags it, the suggested class and the share of its
    ``k`` nearest neighbours labelled otherwise."""

    proba: np.ndarray
    quality: np.ndarray
    flagged: np.ndarray
    suggested: np.ndarray
    neighbours_disagree: np.ndarray

    @property
    def suspicion(self) -> np.ndarray:
        """How suspect each label is, in [0, 1]: the mean of (1 - label quality) and the share
        of neighbours labelled otherwise. Ranks the suspects, most suspect first."""
        return 0.5 * (1.0 - self.quality) + 0.5 * self.neighbours_disagree


def review_labels(features: np.ndarray, labels: np.ndarray, *, groups=None, folds: int = 5, seed: int = 0,
                  k: int = 10) -> LabelReview:
    """Out-of-fold probabilities of a standardised logistic regression on ``features``
    [shape=(N, d)], grouped ``folds``-fold (``groups``: clips that must share a fold), then
    cleanlab's label-quality scores and label issues."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels)
    n, n_classes = len(labels), int(labels.max()) + 1
    groups = np.arange(n) if groups is None else np.asarray(groups)
    folds = max(2, min(folds, int(np.bincount(labels).min()), len(np.unique(groups))))
    proba = np.zeros((n, n_classes))
    for train, test in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(features, labels, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
        model.fit(features[train], labels[train])
        proba[np.ix_(test, model.classes_)] = model.predict_proba(features[test])
    proba = np.clip(proba, 1e-6, None)
    proba /= proba.sum(1, keepdims=True)
    quality = get_label_quality_scores(labels, proba)
    flagged = np.zeros(n, dtype=bool)
    flagged[find_label_issues(labels, proba)] = True
    z = features - features.mean(0)
    z /= np.linalg.norm(z, axis=1, keepdims=True) + 1e-12
    disagree = np.zeros(n)
    kk = min(k, n - 1)
    for start in range(0, n, 1024):  # blocks of rows: memory linear in n
        sims = z[start:start + 1024] @ z.T
        rows = np.arange(start, min(n, start + 1024))
        sims[rows - start, rows] = -np.inf
        near = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        disagree[rows] = (labels[near] != labels[rows, None]).mean(1)
    return LabelReview(proba, quality, flagged, proba.argmax(1), disagree)
