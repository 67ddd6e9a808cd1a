"""Which unlabelled clips to label next: a ranked batch from the graph's class probabilities and
the Siamese embedding.

Every strategy returns clip indices in the order a person should label them, never a labelled
clip, and never more than ``per_group`` clips of one group (album, artist, source track: a batch
of clips from one track teaches what one clip does). Where the clips have groups, **new groups
come first**: while the pool holds a clip of a group with no labelled (or already picked) clip,
only such clips are picked. A second segment of a labelled track is nearly a copy of the first;
a new track is new evidence for the Siamese network, whose training set is the labelled clips.
On real music, random batches at 30 % of the clips cover 35 tracks, every strategy at 20 % only
27 to 30; with this rule ``typical`` covers 41 and gains 3.8 points at 20 %, while ``margin``
loses 2.3 (benchmarks/README.md). The strategies:

- ``typical`` (the default): TypiClust (Hacohen, Dekel & Weinshall, ICML 2022), made for the
  cold start where the model knows little: k-means of the clips into (labelled + budget)
  clusters; from each cluster with no labelled clip, largest first, its most typical clip (the
  highest inverse mean distance to its nearest neighbours in the cluster). Dense,
  representative clips, one per region; once every cluster has one, the ``uncertain-cover``
  score takes over. On real music (benchmarks/README.md) it beat random batches by 4-5 points
  at 10-15 % of the clips labelled and tied at 20 %; ``uncertain-cover`` tied random throughout.
- ``typical-doubt``: TypiClust's clusters and clips, the clusters ranked by the graph's doubt
  summed over their pool clips (the sum of 1 - margin: how many clips a label there could
  correct, density weighted by uncertainty, Settles & Craven 2008) in place of their size.
  Measured on real music: 1.2 points below ``typical`` at 20 % (benchmarks/README.md).
- ``uncertain-cover``: greedy; each pick maximises the graph's uncertainty
  (1 - margin of its two best classes, after correct & smooth) times the clip's distance to
  the nearest labelled-or-already-picked clip in the embedding. Uncertain clips far from
  everything labelled; a second clip beside one already picked scores near zero.
- ``margin``: the smallest margins first (uncertainty alone: picks pile up on one boundary).
- ``cover``: k-center greedy on the embedding (coverage alone: ignores what the graph knows).
- ``random``: a uniform draw, the reference every strategy is measured against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

__all__ = ["STRATEGIES", "DEFAULT_STRATEGY", "Candidate", "margins", "select_batch"]

STRATEGIES = ("typical", "typical-doubt", "uncertain-cover", "margin", "cover", "random")
DEFAULT_STRATEGY = "typical"


@dataclass(frozen=True)
class Candidate:
    """One clip to label: its index, its place in the batch (0 first), the score it was picked
    with, the graph's margin for it, and its distance to the nearest labelled clip."""

    index: int
    rank: int
    score: float
    margin: float
    distance: float


def margins(proba: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 class probability of each row [shape=(N,)]; 0: the graph cannot decide
    between two classes, 1: certain."""
    p = np.sort(np.asarray(proba, dtype=np.float64), axis=1)
    return p[:, -1] - (p[:, -2] if p.shape[1] > 1 else 0.0)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(0)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def select_batch(embeddings: np.ndarray, proba: np.ndarray, labelled: np.ndarray, pool: np.ndarray, budget: int, *,
                 groups=None, per_group: int = 2, strategy: str = DEFAULT_STRATEGY,
                 new_groups_first: bool = True, seed: int = 0) -> list[Candidate]:
    """``budget`` clips of ``pool`` (indices into the rows of ``embeddings`` [shape=(N, d)] and
    ``proba`` [shape=(N, C)]) to label next, best first. ``labelled``: the indices already
    labelled (never returned; the distances start from them). ``groups`` (every clip's, or
    None: each clip its own) with ``per_group``: at most that many picks of one group; when the
    cap leaves fewer than ``budget`` clips, the batch is shorter. ``new_groups_first``: while any
    open pool clip belongs to a group with no labelled or picked clip, pick only among those
    (not for ``random``, the uniform reference).
    Distances are cosine distances between centred embeddings."""
    labelled = np.asarray(labelled, dtype=np.int64)
    pool = np.setdiff1d(np.asarray(pool, dtype=np.int64), labelled)
    _check(strategy, per_group, budget, len(pool))
    z = _unit(embeddings)
    marg = margins(proba)
    nearest = np.full(len(z), 2.0)  # cosine distance to the nearest labelled (or picked) clip; 2 at most
    if len(labelled):
        nearest = np.min(1.0 - z @ z[labelled].T, axis=1)
    nearest = np.clip(nearest, 0.0, 2.0)
    dist0 = nearest.copy()
    group = np.asarray(groups, dtype=object) if groups is not None else np.arange(len(z)).astype(object)
    taken: dict = {}
    open_ = np.ones(len(z), dtype=bool)
    prefer_new = new_groups_first and strategy != "random"  # the random reference stays a uniform draw
    fresh = ~np.isin(group, group[labelled]) if prefer_new else np.ones(len(z), dtype=bool)
    rng = np.random.default_rng([seed, 29])
    order = rng.permutation(pool) if strategy == "random" else None
    typical = (_typical_clusters(z, labelled, pool, len(labelled) + budget, seed,
                                 weight=1.0 - marg if strategy == "typical-doubt" else None)
               if strategy.startswith("typical") else [])
    picks: list[Candidate] = []
    while len(picks) < budget:
        new = open_ & fresh
        usable = new if new[pool].any() else open_
        allowed = pool[usable[pool]]
        if not len(allowed):
            break
        while typical and not any(usable[j] for j, _ in typical[0]):
            typical.pop(0)  # a cluster whose clips the group cap (or a labelled group) has closed
        if strategy == "random":
            assert order is not None
            i = int(next(j for j in order if usable[j]))
            score = 0.0
        elif typical:
            i, score = next((j, t) for j, t in typical.pop(0) if usable[j])
        else:
            i, score = _best_scored(strategy, allowed, marg, nearest)
        picks.append(Candidate(i, len(picks), score, float(marg[i]), float(dist0[i])))
        open_[i] = False
        g = group[i]
        taken[g] = taken.get(g, 0) + 1
        if prefer_new:
            fresh[group == g] = False
        if taken[g] >= per_group:
            open_[group == g] = False
        nearest = np.minimum(nearest, np.clip(1.0 - z @ z[i], 0.0, 2.0))
    return picks


def _check(strategy: str, per_group: int, budget: int, pool: int) -> None:
    if strategy not in STRATEGIES:
        raise ParameterError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    if per_group < 1:
        raise ParameterError("per_group must be >= 1")
    if budget < 1:
        raise ParameterError("the budget must be >= 1")
    if budget > pool:
        raise ParameterError(f"--budget {budget} is larger than the unlabelled pool ({pool} clips)")


def _best_scored(strategy: str, allowed: np.ndarray, marg: np.ndarray, nearest: np.ndarray) -> tuple[int, float]:
    """The allowed clip of the highest score (``margin``: 1 - margin; ``cover``: distance to the
    nearest labelled or picked clip; ``uncertain-cover``: their product), and that score.
    Ties (e.g. every margin 0) go to the lower index: the result never depends on the pool's order."""
    if strategy == "margin":
        scores = 1.0 - marg[allowed]
    elif strategy == "cover":
        scores = nearest[allowed]
    else:
        scores = (1.0 - marg[allowed]) * nearest[allowed]
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return int(allowed[best[np.argmin(allowed[best])]]), float(scores.max())


def _typical_clusters(z: np.ndarray, labelled: np.ndarray, pool: np.ndarray, clusters: int,
                      seed: int, neighbours: int = 20, weight: np.ndarray | None = None) -> list[list[tuple[int, float]]]:
    """TypiClust's candidates: for each k-means cluster of the labelled and pool clips that
    holds no labelled clip, largest first (or, with ``weight`` [shape=(N,)], the largest sum of
    its pool clips' weights first), its pool clips as (clip, typicality), most typical first
    (typicality: 1 / mean cosine distance to the ``neighbours`` nearest clips of the cluster),
    so that a clip the group cap refuses falls to its cluster's next one."""
    from sklearn.cluster import KMeans

    nodes = np.union1d(labelled, pool)
    clusters = int(min(clusters, len(nodes)))
    assign = KMeans(n_clusters=clusters, n_init=3, random_state=seed).fit_predict(z[nodes])
    has_label = set(assign[np.isin(nodes, labelled)].tolist())
    in_pool = np.isin(nodes, pool)
    sizes = (np.bincount(assign, minlength=clusters).astype(np.float64) if weight is None
             else np.bincount(assign[in_pool], weights=np.asarray(weight, dtype=np.float64)[nodes[in_pool]],
                              minlength=clusters))
    out: list[list[tuple[int, float]]] = []
    for c in sorted(range(clusters), key=lambda c: (-sizes[c], c)):
        members = nodes[(assign == c) & in_pool]
        if c in has_label or not len(members):
            continue
        d = np.clip(1.0 - z[members] @ z[members].T, 0.0, 2.0)
        k = min(neighbours, len(members) - 1)
        typ = 1.0 / (np.sort(d, axis=1)[:, 1:k + 1].mean(1) + 1e-12) if k > 0 else np.ones(len(members))
        out.append([(int(members[j]), float(typ[j])) for j in np.argsort(-typ, kind="stable")])
    return out
