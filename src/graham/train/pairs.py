"""Balanced pairs for the Siamese network (the paper's eq. 6).

Of the C(n, 2) pairs of n clips only about C(k, 2) per class are positive (same genre), so
pairs are subsampled to about 1:1. :class:`ClassBalancedBatchSampler` builds batches of
``classes_per_batch`` classes x ``per_class`` clips, so every batch holds positives;
:func:`sample_pairs` then draws as many negative as positive pairs from the batch.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..errors import ParameterError

__all__ = ["ClassBalancedBatchSampler", "sample_pairs", "pair_counts"]


def pair_counts(n: int, k: int) -> tuple[int, int, int]:
    """Eq. 6: (C(n,2), C(k,2), C(n-k,2)) for n clips of which k share a class."""
    c2 = lambda m: m * (m - 1) // 2  # noqa: E731
    return c2(n), c2(k), c2(n - k)


class ClassBalancedBatchSampler:
    """Yields batches (index arrays) of ``classes_per_batch`` random classes x ``per_class``
    clips. Each class's clips are dealt from a shuffled queue, refilled when empty, so an epoch
    of ``ceil(n / batch)`` batches sees every clip about once. Its state (RNG and queues) is
    JSON-serialisable, for exact resume."""

    def __init__(self, labels: Sequence[int], *, classes_per_batch: int = 8, per_class: int = 4, seed: int = 0,
                 min_batches: int = 0) -> None:
        labels_a = np.asarray(labels)
        if labels_a.ndim != 1 or labels_a.size < 2:
            raise ParameterError("need at least two labelled clips")
        if classes_per_batch < 1 or per_class < 2:
            raise ParameterError("classes_per_batch must be >= 1 and per_class >= 2")
        self.labels = labels_a
        self.classes = np.unique(labels_a)
        self.by_class = {int(c): np.flatnonzero(labels_a == c) for c in self.classes}
        self.classes_per_batch = min(classes_per_batch, len(self.classes))
        self.per_class = per_class
        self.min_batches = int(min_batches)
        self.rng = np.random.default_rng(seed)
        self.queues: dict[int, list[int]] = {int(c): [] for c in self.classes}

    @property
    def batch_size(self) -> int:
        return self.classes_per_batch * self.per_class

    def __len__(self) -> int:
        return max(1, self.min_batches, -(-len(self.labels) // self.batch_size))

    def _take(self, c: int, k: int) -> list[int]:
        members = self.by_class[c]
        if len(members) < k:  # a tiny class: draw with replacement
            return [int(i) for i in self.rng.choice(members, size=k, replace=True)]
        out: list[int] = []
        while len(out) < k:
            if not self.queues[c]:
                self.queues[c] = [int(i) for i in self.rng.permutation(members)]
            nxt = self.queues[c].pop()
            if nxt not in out:
                out.append(nxt)
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        for _ in range(len(self)):
            chosen = self.rng.choice(self.classes, size=self.classes_per_batch, replace=False)
            yield np.array([i for c in chosen for i in self._take(int(c), self.per_class)], dtype=np.int64)

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "queues": {str(k): v for k, v in self.queues.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.queues = {int(k): list(v) for k, v in state["queues"].items()}


def sample_pairs(labels: np.ndarray, rng: np.random.Generator, *, clip_ids: np.ndarray | None = None,
                 max_pairs: int | None = None, scores: np.ndarray | None = None,
                 hard_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced pairs of batch positions: (i, j, same) with i < j and as many positives as
    negatives (the smaller set whole, the larger subsampled; ``max_pairs`` caps the total).
    Positions that hold the same clip (``clip_ids`` equal) are never paired.

    Hard negatives: with ``scores`` (the current same-genre logit of every pair i < j, in
    ``np.triu_indices(n, 1)`` order), ``hard_fraction`` of the negatives are the highest-scoring
    ones (the pairs of different genres the network most confuses), the rest random."""
    n = len(labels)
    i, j = np.triu_indices(n, k=1)
    if scores is not None and len(scores) != len(i):
        raise ParameterError(f"scores must hold one value per pair i < j ({len(i)}), got {len(scores)}")
    if clip_ids is not None:
        keep = clip_ids[i] != clip_ids[j]
        i, j = i[keep], j[keep]
        scores = scores[keep] if scores is not None else None
    same = labels[i] == labels[j]
    pos, neg = np.flatnonzero(same), np.flatnonzero(~same)
    m = min(len(pos), len(neg))
    if max_pairs is not None:
        m = min(m, max_pairs // 2)
    if m == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    n_hard = int(round(hard_fraction * m)) if scores is not None else 0
    hard = neg[np.argsort(-scores[neg], kind="stable")[:n_hard]] if n_hard and scores is not None else np.empty(0, np.int64)
    rest = np.setdiff1d(neg, hard)
    sel = np.concatenate([rng.choice(pos, m, replace=False), hard, rng.choice(rest, m - n_hard, replace=False)])
    sel.sort()
    return i[sel], j[sel], same[sel].astype(np.float32)
