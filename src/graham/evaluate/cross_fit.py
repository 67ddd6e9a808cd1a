"""Cross-fitted embeddings (issue 27): every labelled clip's embedding comes from a Siamese
network that did not train on it, so the second stage (GNN, correct & smooth, the baselines)
learns from labelled nodes that look like the test nodes instead of nodes it has already fit.

The labelled clips are split into ``K`` parts, grouped by ``group`` where clips come in groups
(segments of one track sit in one part). Network ``k`` trains on the other parts; it embeds
part ``k``. Each network has its own embedding space, so its embeddings are mapped into the
space of the network trained on every labelled clip (the one that embeds every other node and
every new clip) by the similarity transform (orthogonal Procrustes with a scale) that best
maps the anchor clips: the clips of the graph outside part ``k``, audio only, no label read.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..errors import ParameterError
from ..names import CROSS_FIT_OTHERS
from .splits import kfold_splits

log = logging.getLogger(__name__)

__all__ = ["CrossFit", "cross_fit_folds", "similarity_map", "cross_fit_embeddings"]


def cross_fit_folds(labels: np.ndarray, groups: Sequence | np.ndarray | None, k: int, seed: int) -> list[np.ndarray]:
    """``k`` disjoint, sorted position arrays covering ``0..len(labels)-1``: the test folds of
    :func:`~graham.evaluate.splits.kfold_splits` (stratified by label; with ``groups``, no group
    in two parts). A :class:`ParameterError` when ``k`` < 2 or there are fewer groups (clips)
    than ``k``."""
    labels = np.asarray(labels)
    if k < 2:
        raise ParameterError(f"cross-fitting needs K >= 2 parts, got {k}")
    n_groups = len(np.unique(np.arange(len(labels)) if groups is None else np.asarray(groups)))
    if n_groups < k:
        raise ParameterError(f"cross-fitting in {k} parts needs at least {k} groups of labelled clips, got {n_groups}")
    with warnings.catch_warnings():  # "the least populated class has only m members": expected at few labels
        warnings.simplefilter("ignore", UserWarning)
        return [split.test for split in kfold_splits(labels, k=k, seed=seed, groups=groups)]


@dataclass(frozen=True)
class SimilarityMap:
    """``x -> (x - src_mean) @ rotation * scale + dst_mean``: an orthogonal map with one scale."""

    src_mean: np.ndarray
    rotation: np.ndarray
    scale: float
    dst_mean: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.src_mean) @ self.rotation * self.scale + self.dst_mean


def similarity_map(src: np.ndarray, dst: np.ndarray) -> SimilarityMap:
    """The similarity transform taking the rows of ``src`` closest (least squares) to those of
    ``dst``: centre both, rotate by orthogonal Procrustes (``scipy.linalg.orthogonal_procrustes``)
    and scale by ``trace(S) / |src_c|^2`` (Umeyama 1991, without reflection removal: an
    embedding space has no handedness)."""
    from scipy.linalg import orthogonal_procrustes

    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or len(src) < 2:
        raise ParameterError(f"a similarity map needs two equal-shaped sets of >= 2 rows, got {src.shape}, {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    rotation, singular_sum = orthogonal_procrustes(a, b)
    norm = float((a ** 2).sum())
    return SimilarityMap(mu_s, rotation, singular_sum / norm if norm > 0 else 1.0, mu_d)


@dataclass
class CrossFit:
    """What cross-fitting made: the embeddings with every labelled row out of fold, the parts
    (clip indices), each part's network, and the seconds spent training the extra networks."""

    embeddings: np.ndarray
    parts: list[np.ndarray]  # clip indices of each part (subsets of the labelled clips)
    models: list = field(default_factory=list)
    seconds: float = 0.0

    def fold_of(self) -> dict[int, int]:
        """Clip index -> the part it was held out in."""
        return {int(i): k for k, part in enumerate(self.parts) for i in part}


def cross_fit_embeddings(full: np.ndarray, labelled: np.ndarray, labels: np.ndarray, groups: np.ndarray | None,
                         anchors: np.ndarray, k: int, seed: int,
                         train_and_embed: Callable[[int, np.ndarray, np.ndarray], tuple[object, np.ndarray]],
                         others: str = "main") -> CrossFit:
    """``full`` [shape=(N, d)], every clip embedded by the network trained on all ``labelled``
    clips, with each labelled row replaced by its out-of-fold embedding mapped into ``full``'s
    space. ``anchors``: the clips whose audio may align the spaces (the graph's nodes: all
    clips in a transductive run, the training clips in an inductive one); part ``k``'s own clips
    never do. ``train_and_embed(k, fit, embed)`` trains network ``k`` on the clip indices
    ``fit`` and returns (model, embeddings of the clip indices ``embed``). ``others``: ``main``
    keeps ``full``'s rows of the unlabelled clips; ``mean`` gives each the mean of the K part
    networks' mapped embeddings, so that no row, labelled or not, comes from a network that
    trained on its clip. Only the labels of ``labelled`` are read."""
    if others not in CROSS_FIT_OTHERS:
        raise ParameterError(f"cross-fit others must be one of {', '.join(CROSS_FIT_OTHERS)}, got {others!r}")
    t0 = time.perf_counter()
    full = np.asarray(full)
    labelled = np.sort(np.asarray(labelled))
    g = None if groups is None else np.asarray(groups)[labelled]
    parts = [labelled[p] for p in cross_fit_folds(np.asarray(labels)[labelled], g, k, seed)]
    out = np.array(full, dtype=np.float64, copy=True)
    rest = np.setdiff1d(np.arange(len(full)), labelled) if others == "mean" else np.zeros(0, dtype=np.int64)
    mean = np.zeros((len(rest), full.shape[1]))
    models = []
    for j, part in enumerate(parts):
        fit = np.setdiff1d(labelled, part)
        anchor = np.setdiff1d(np.asarray(anchors), part)
        where = np.concatenate([part, anchor, np.setdiff1d(rest, anchor)])
        model, emb = train_and_embed(j, fit, where)
        emb = np.asarray(emb, dtype=np.float64)
        a, b = len(part), len(part) + len(anchor)
        mapping = similarity_map(emb[a:b], full[anchor].astype(np.float64))
        out[part] = mapping(emb[:a])
        if len(rest):
            mean += mapping(emb[_rows(where, rest)])
        models.append(model)
        log.info("cross-fit part %d/%d: %d held-out clips, %d anchors", j + 1, k, len(part), len(anchor))
    if len(rest):
        out[rest] = mean / len(parts)
    return CrossFit(out.astype(full.dtype), parts, models, time.perf_counter() - t0)


def _rows(where: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in ``where`` (distinct clip indices, any order) of the clip indices ``wanted``."""
    order = np.argsort(where)
    return order[np.searchsorted(where[order], wanted)]
