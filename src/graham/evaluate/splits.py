"""Train/test splits and labelled fractions, all determined by a seed.

- ``random``: the paper's stratified 70:30 split of clips (an artist's clips may sit on both
  sides, which flatters every method on GTZAN);
- ``grouped``: a group (artist, album, source track, YouTube video) never spans train and test;
- ``kfold``: stratified (optionally grouped) k-fold cross-validation;
- ``given``: the corpus's own split lists (train and valid train, test tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from ..errors import ParameterError

__all__ = ["Split", "random_split", "grouped_split", "kfold_splits", "given_split", "labelled_subset", "make_splits"]

PROTOCOLS = ("random", "grouped", "kfold", "given")


@dataclass(frozen=True)
class Split:
    """Indices of train and test clips, and a name for reports (e.g. ``random 70:30 seed 0``)."""

    train: np.ndarray
    test: np.ndarray
    name: str


def random_split(labels, *, test_size: float = 0.3, seed: int = 0, names=None) -> Split:
    """Stratified split with ``test_size`` of the clips in the test part (rounded up to one clip
    per class when the corpus is tiny). ``names[c]`` is class ``c``'s name, for messages."""
    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    values, counts = np.unique(labels, return_counts=True)
    n_classes = len(values)
    n_test = max(n_classes, int(round(test_size * len(labels))))
    lonely = [f"{names[v] if names is not None else v} ({n} clip)" for v, n in zip(values, counts) if n < 2]
    if lonely:
        raise ParameterError(f"a stratified split needs at least two clips of every class; {len(lonely)} "
                             f"class(es) have one: {', '.join(map(str, lonely[:10]))}"
                             f"{' ...' if len(lonely) > 10 else ''}")
    if n_test > len(labels) - n_classes:
        raise ParameterError(f"a stratified split of {len(labels)} clips in {n_classes} classes leaves no training "
                             f"clip for some class at a test fraction of {test_size:g}")
    tr, te = train_test_split(idx, test_size=n_test, stratify=labels, random_state=seed)
    return Split(np.sort(tr), np.sort(te), f"random stratified {1 - test_size:.0%}:{test_size:.0%}, seed {seed}")


def grouped_split(labels, groups, *, test_size: float = 0.3, seed: int = 0) -> Split:
    """Stratified group split: about ``test_size`` of the clips (1/round(1/test_size) exactly, a
    fold of StratifiedGroupKFold), no group on both sides."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    k = max(2, int(round(1 / test_size)))
    if len(np.unique(groups)) < k:
        raise ParameterError(f"a grouped split needs at least {k} groups, got {len(np.unique(groups))}")
    tr, te = next(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(labels, labels, groups))
    return Split(np.sort(tr), np.sort(te), f"grouped (no group on both sides) {1 - 1 / k:.0%}:{1 / k:.0%}, seed {seed}")


def kfold_splits(labels, *, k: int = 5, seed: int = 0, groups=None) -> list[Split]:
    labels = np.asarray(labels)
    if groups is not None and len(set(groups)) == len(labels):
        groups = None  # every clip its own group: plain stratified k-fold, and named so
    if groups is None:
        it = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(labels, labels)
        kind = "stratified"
    else:
        it = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(labels, labels, np.asarray(groups))
        kind = "stratified grouped"
    return [Split(np.sort(tr), np.sort(te), f"{kind} {k}-fold, fold {f + 1}, seed {seed}") for f, (tr, te) in enumerate(it)]


def given_split(splits) -> Split:
    """From per-clip split names ("train", "valid", "test", None): train+valid vs test."""
    s = np.asarray([x or "" for x in splits])
    tr, te = np.flatnonzero((s == "train") | (s == "valid")), np.flatnonzero(s == "test")
    if len(tr) == 0 or len(te) == 0:
        raise ParameterError("the given split lists name no train or no test clips")
    return Split(tr, te, "given split lists (train+valid : test)")


def labelled_subset(train: np.ndarray, labels, fraction: float, *, seed: int = 0) -> np.ndarray:
    """A stratified ``fraction`` of ``train`` whose labels are used. Nested across fractions
    for one seed (the 30 % set lies inside the 50 % set), at least one clip per class."""
    if not 0 < fraction <= 1:
        raise ParameterError(f"fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, 7])
    keep = []
    for c in np.unique(labels[train]):
        members = rng.permutation(train[labels[train] == c])
        keep.append(members[: max(1, int(round(fraction * len(members))))])
    return np.sort(np.concatenate(keep))


def make_splits(protocol: str, labels, *, seed: int = 0, groups=None, splits=None, test_size: float = 0.3,
                k: int = 5, names=None) -> list[Split]:
    """The splits of one protocol for one seed (k of them for k-fold); ``names`` (class names
    by label) make messages name classes."""
    if protocol == "random":
        return [random_split(labels, test_size=test_size, seed=seed, names=names)]
    if protocol == "grouped":
        return [grouped_split(labels, groups, test_size=test_size, seed=seed)]
    if protocol == "kfold":
        return kfold_splits(labels, k=k, seed=seed, groups=groups)
    if protocol == "given":
        return [given_split(splits)]
    raise ParameterError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
