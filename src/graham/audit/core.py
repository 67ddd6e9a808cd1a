"""An audit of a data set from its clips' log-mels: duplicates (audio fingerprints), suspect
labels (out-of-fold predictions and neighbours), leakage across splits and groups, and a
summary per class. Pure computation; :mod:`graham.audit.page` writes the files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..audio.bandstats import mel_band_statistics
from ..data.corpus import Corpus
from ..evaluate.splits import expected_groups_cut
from .fingerprint import DuplicatePair, find_duplicates, fingerprint
from .labels import LabelReview, review_labels

__all__ = ["AuditResult", "audit_corpus", "duplicate_groups"]


@dataclass
class AuditResult:
    """What an audit found in ``corpus`` (clips in the order of its log-mels)."""

    corpus: Corpus
    durations: np.ndarray  # [s] per clip
    duplicates: list[DuplicatePair]
    labels: LabelReview
    suspects: list[int]  # clip indices flagged by confident learning, most suspect first (LabelReview.suspicion)
    leakage: dict
    per_class: list[dict]
    frames_per_second: float
    settings: dict = field(default_factory=dict)

    def exclude(self) -> list[dict]:
        """What ``--exclude`` should drop: the later clip of every duplicate pair (one copy of
        each recording stays) and every flagged suspect, each with the reason. A duplicate's
        reason says whether its twin is in the same group: under a grouped split such a pair
        cannot leak, and a user may keep it."""
        ids, groups = self.corpus.clip_ids, self.corpus.groups
        out: dict[str, str] = {}
        for d in self.duplicates:  # the group says whether a grouped split would keep the pair together
            where = "same group" if groups[d.a] == groups[d.b] else "another group"
            out.setdefault(ids[d.b], f"near-duplicate of {ids[d.a]} (score {d.score:.2f}, {where})")
        for i in self.suspects:
            suggested = self.corpus.classes[int(self.labels.suggested[i])]
            out.setdefault(ids[i], f"suspect label: labelled {self.corpus.clips[i].label}, the data says {suggested}")
        return [{"clip_id": k, "reason": v} for k, v in out.items()]


def duplicate_groups(n: int, pairs: Sequence[DuplicatePair]) -> np.ndarray:
    """A component id per clip: clips joined by duplicate pairs share one (union-find)."""
    parent = np.arange(n)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for d in pairs:
        ra, rb = root(d.a), root(d.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([root(i) for i in range(n)])


def _leakage(corpus: Corpus, pairs: Sequence[DuplicatePair]) -> dict:
    """Duplicate pairs and groups that a split would put on both sides."""
    splits = [c.split for c in corpus.clips]
    groups = corpus.groups
    given = any(s is not None for s in splits)
    across_groups = [d for d in pairs if groups[d.a] != groups[d.b]]
    sizes = np.unique(np.asarray(groups), return_counts=True)[1]
    out = {
        "duplicate_pairs": len(pairs),
        "pairs_across_groups": len(across_groups),
        "groups_of_several_clips": int((sizes > 1).sum()),
        # a group of n clips lands on both sides of a random 70:30 split unless all go one way
        "groups_a_random_split_would_cut_expected": round(expected_groups_cut(groups, 0.3), 1),
        "note": ("a random split puts a duplicate pair on both sides with probability 2 x 0.7 x 0.3 = 0.42; a grouped "
                 "split keeps a group together, so only pairs across groups can leak through it"),
    }
    if given:
        straddle = [d for d in pairs if splits[d.a] != splits[d.b] and None not in (splits[d.a], splits[d.b])]
        train = {i for i, s in enumerate(splits) if s == "train"}
        twins = set()
        for d in straddle:
            for x, y in ((d.a, d.b), (d.b, d.a)):
                if splits[x] == "test" and y in train:
                    twins.add(x)
        by_group: dict[str, set] = {}
        for g, s in zip(groups, splits):
            if s is not None:
                by_group.setdefault(g, set()).add(s)
        out.update({
            "given_split": True,
            "pairs_across_the_given_split": len(straddle),
            "test_clips_with_a_twin_in_training": len(twins),
            "groups_across_the_given_split": sum(len(v) > 1 for v in by_group.values()),
        })
    else:
        out["given_split"] = False
    return out


def audit_corpus(corpus: Corpus, mels: Sequence[np.ndarray], *, frames_per_second: float, seed: int = 0,
                 folds: int = 5, progress: bool = True, min_matches: int = 12, min_score: float = 0.04) -> AuditResult:
    """Audit ``corpus`` from its clips' log-mels ``mels`` (in its order)."""
    n = len(corpus)
    it = range(n)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="fingerprints", unit="clip")
    prints = []
    durations = np.zeros(n)
    for i in it:
        m = np.asarray(mels[i])
        durations[i] = m.shape[-1] / frames_per_second
        prints.append(fingerprint(m, frames_per_second=frames_per_second))
    pairs = find_duplicates(prints, min_matches=min_matches, min_score=min_score)
    labels = np.asarray(corpus.targets())
    components = duplicate_groups(n, pairs)
    group_ids = {g: k for k, g in enumerate(dict.fromkeys(corpus.groups))}
    # a clip's fold follows its group and its duplicates: join both into one key
    fold_groups = duplicate_groups(n, pairs + [DuplicatePair(i, j, 0, 0, 0.0)
                                               for i, j in _same_group_pairs([group_ids[g] for g in corpus.groups])])
    features = mel_band_statistics(mels)
    review = review_labels(features, labels, groups=fold_groups, folds=folds, seed=seed)
    suspects = sorted(np.flatnonzero(review.flagged).tolist(), key=lambda i: -review.suspicion[i])
    dup_count = np.bincount(components, minlength=n)
    per_class = []
    for k, name in enumerate(corpus.classes):
        mask = labels == k
        per_class.append({"class": name, "clips": int(mask.sum()), "minutes": round(float(durations[mask].sum()) / 60, 2),
                          "suspects": int(review.flagged[mask].sum()),
                          "in_duplicate_groups": int((dup_count[components][mask] > 1).sum())})
    return AuditResult(corpus, durations, pairs, review, suspects, _leakage(corpus, pairs), per_class,
                       frames_per_second, {"seed": seed, "folds": folds, "min_matches": min_matches,
                                           "min_score": min_score})


def _same_group_pairs(group_index: list[int]):
    """Consecutive members of each group, as pairs (enough to join a group into one component)."""
    last: dict[int, int] = {}
    for i, g in enumerate(group_index):
        if g in last:
            yield last[g], i
        last[g] = i
