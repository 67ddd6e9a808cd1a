"""Train/test splits and labelled fractions, all determined by a seed.

- ``random``: the paper's stratified 70:30 split of clips (an artist's clips may sit on both
  sides, which flatters every method on GTZAN);
- ``grouped``: a group (artist, album, source track, YouTube video) never spans train and test;
- ``kfold``: stratified (optionally grouped) k-fold cross-validation;
- ``given``: the corpus's own split lists (train and valid train, test tests).

``auto`` (what ``train`` and ``experiment`` use unless told) picks by the corpus: a corpus whose
groups hold several clips each (a folder's sub-folders, a table's ``group`` column, the
synthetic artists) gets the grouped protocol, since a random split would put clips of one
recording or artist on both sides and flatter every method; any other gets the paper's random
split. ``paper`` is the paper's random split by name. Where a random split is used on grouped
data anyway, :func:`leakage_note` says how many groups it cuts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from ..errors import ParameterError
from ..names import PROTOCOL_CHOICES, PROTOCOLS

__all__ = ["Split", "random_split", "grouped_split", "kfold_splits", "given_split", "labelled_subset", "make_splits",
           "PROTOCOLS", "has_groups", "choose_protocol", "groups_cut", "expected_groups_cut",
           "leakage_note"]



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
    if not has_groups(groups):
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


def has_groups(groups) -> bool:
    """Whether some group holds several clips (else every clip is its own group, and a grouped
    split is a plain one)."""
    return groups is not None and len(set(groups)) < len(groups)


def choose_protocol(protocol: str | None, groups, *, grouped: str = "grouped") -> tuple[str, str]:
    """The protocol to run for ``protocol`` as asked (None or ``auto``: chosen by the corpus;
    ``paper``: ``random``) and why, in words. ``grouped`` is what ``auto`` picks on a corpus
    with groups of several clips: ``grouped`` (one split) or ``kfold`` (grouped folds)."""
    if protocol not in (None,) + PROTOCOL_CHOICES:
        raise ParameterError(f"protocol must be one of {', '.join(PROTOCOL_CHOICES)}, got {protocol!r}")
    if protocol == "paper":
        return "random", "the paper's random split of clips, as asked (--protocol paper)"
    if protocol not in (None, "auto"):
        return protocol, f"as asked (--protocol {protocol})"
    if has_groups(groups):
        n = len(set(groups))
        return grouped, (f"the default for a corpus whose {n} groups (artist, album, track, video) hold several clips "
                         "each: no group on both sides, so no method is scored on a recording it trained on; "
                         "--protocol random for the paper's split")
    return "random", "the default for a corpus without groups of several clips: the paper's random split"


def groups_cut(split: Split, groups) -> int:
    """How many groups have clips on both sides of ``split``."""
    groups = np.asarray(groups)
    return len(np.intersect1d(np.unique(groups[split.train]), np.unique(groups[split.test])))


def expected_groups_cut(groups, test_size: float = 0.3) -> float:
    """How many groups a random split of clips with ``test_size`` of them in the test part is
    expected to cut: a group of n clips stays whole only when all its clips go one way,
    so it is cut with probability 1 - (1 - t)^n - t^n."""
    sizes = np.unique(np.asarray(groups), return_counts=True)[1]
    return float(np.sum(1 - (1 - test_size) ** sizes - test_size ** sizes))


def leakage_note(splits: Split | Sequence[Split], groups) -> str | None:
    """One line when a split (or any of several) puts clips of one group on both sides, as a
    random split of grouped data does: how many groups it cuts and that the score is
    optimistic; None when no split cuts a group."""
    if groups is None:
        return None
    splits = [splits] if isinstance(splits, Split) else list(splits)
    cuts = [groups_cut(s, groups) for s in splits]
    if not any(cuts):
        return None
    several = int((np.unique(np.asarray(groups), return_counts=True)[1] > 1).sum())
    if len(cuts) == 1:
        what = f"this split puts clips of {cuts[0]} of the {several} groups of several clips on both sides"
    else:
        what = (f"these {len(cuts)} splits put clips of {min(cuts)}-{max(cuts)} (mean {np.mean(cuts):.1f}) of the "
                f"{several} groups of several clips on both sides")
    return (f"leakage: {what}, so a method is scored on recordings it trained on and the score is optimistic; "
            "--protocol grouped (or kfold) keeps every group on one side")
