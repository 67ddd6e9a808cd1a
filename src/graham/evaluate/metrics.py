"""Classification metrics from scikit-learn: accuracy, balanced accuracy (mean per-class recall,
the figure that stays honest on imbalanced collections), macro-F1, per-class scores, confusion."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

__all__ = ["classification_metrics", "format_pm", "METRIC_KEYS", "METRIC_TITLES", "run_metric"]

#: The headline metrics of every table, in order, with their column titles.
METRIC_KEYS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1")
METRIC_TITLES: dict[str, str] = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy",
                                 "macro_f1": "macro-F1"}


def classification_metrics(y_true, y_pred, classes: list[str]) -> dict:
    """Accuracy, balanced accuracy (mean recall over the classes present in ``y_true``), macro-F1,
    per-class precision/recall/F1/support and the confusion matrix
    (rows: true class, columns: predicted), as plain JSON-serialisable values."""
    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {c: {"precision": float(p[k]), "recall": float(r[k]), "f1": float(f[k]), "support": int(s[k])}
                      for k, c in enumerate(classes)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def format_pm(mean: float, std: float, runs: int) -> str:
    """A fraction as a percentage with its spread over runs (``81.1 ± 2.3``); a single run has
    no spread to show (``81.1``)."""
    return f"{100 * mean:.1f} ± {100 * std:.1f}" if runs > 1 else f"{100 * mean:.1f}"


def run_metric(metrics: dict, key: str) -> float:
    """One metric of one method's run. Runs saved before balanced accuracy was recorded (a
    resumed experiment) get it from their confusion matrix: the mean recall of the classes
    present."""
    if key in metrics or key != "balanced_accuracy":
        return float(metrics[key])
    cm = np.asarray(metrics["confusion"], dtype=float)
    support = cm.sum(1)
    return float((np.diag(cm)[support > 0] / support[support > 0]).mean())
