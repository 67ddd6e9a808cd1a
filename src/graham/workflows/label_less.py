"""The steps of labelling less, as plain functions the CLI runs: train on the labels given so
far with every other clip an unlabelled node (``graham train --labels``), rank the clips to
label next and write the page to label them by ear (``graham suggest``), with a fresh training
or with a bundle's model (its Siamese network kept; the labels given joining its graph through
:func:`graham.workflows.extend.extend_bundle`).

How each data-set kind takes an unlabelled pool: with ``--labels``, the labels file gives the
only labels read. ``audio:PATH`` has none of its own (a collection nobody has labelled);
``folder:``, ``csv:``, ``gtzan:``, ``audioset:`` and ``synthetic`` have them, and they are not
used for training: they score the unlabelled clips' predictions, as a held-out check.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, cast

import numpy as np

from ..audio.mel import MelConfig
from ..data.corpus import Corpus
from ..data.folder import UNLABELLED
from ..errors import BundleError, DatasetError, ParameterError
from ..evaluate.splits import Split
from ..labelling.labels_file import read_labels
from ..labelling.select import DEFAULT_STRATEGY, Candidate, select_batch
from ..utils.files import csv_text, writable_folder, write_json, write_text
from .features import extract_features
from .requests import DataSource, ModelSettings

if TYPE_CHECKING:
    from ..evaluate.methods import RunData
    from ..train.loop import TrainResult

#: The contrastive loss's weight in a fresh training on the labels given (``train --labels``,
#: ``suggest``), by preset, where ``contrastive`` is not given. These commands are for a
#: collection with few labels, so every clip's audio trains the embedding too. Measured on real
#: music (benchmarks/README.md, "Label less"): suggest's batches then reach at 20 % of the clips
#: labelled what random 30 % reach without it, and a bundle so trained gives a genre it never
#: saw 10 points more recall from 10 clips; for 1.8x the training time. ``paper`` keeps its
#: recipe (the pair loss alone).
LABELS_CONTRASTIVE = {"cpu": 1.0}

__all__ = ["LABELS_CONTRASTIVE", "LabelledPool", "PoolModel", "labelled_pool", "label_less_settings", "fit_pool",
           "pool_from_bundle", "suggest", "SuggestOutcome", "train_on_labels"]


@dataclass
class LabelledPool:
    """A data set's clips with the labels given so far: ``labels[i]`` the class of clip ``i``
    in ``classes``, -1 where no label is given; ``truth`` the data set's own label names (""
    for ``audio:``), never used for training."""

    dataset: str
    corpus: Corpus
    mels: Sequence[np.ndarray]
    mel_config: MelConfig
    classes: list[str]
    labels: np.ndarray
    truth: list[str]
    skipped: list = field(default_factory=list)

    @property
    def labelled(self) -> np.ndarray:
        return np.flatnonzero(self.labels >= 0)

    @property
    def unlabelled(self) -> np.ndarray:
        return np.flatnonzero(self.labels < 0)

    @property
    def groups(self) -> np.ndarray:
        return np.asarray(self.corpus.groups)


def labelled_pool(source: DataSource, labels_csv: str | os.PathLike, *, classes: list[str] | None = None,
                  progress: bool = True) -> LabelledPool:
    """The features of ``source`` (made where missing) and the labels of ``labels_csv``
    checked against its clip ids. ``classes``: the class list to extend (a bundle's); the
    labels file's new labels come after them."""
    fr = extract_features(source, progress=progress)
    corpus = fr.features.corpus
    given = read_labels(labels_csv, corpus.clip_ids)
    names = list(classes or []) + sorted(set(given.values()) - set(classes or []))
    index = {c: i for i, c in enumerate(names)}
    labels = np.array([index[given[c]] if c in given else -1 for c in corpus.clip_ids], dtype=np.int64)
    return LabelledPool(source.spec, corpus, fr.features.mels, fr.features.config, names, labels,
                        [c.label for c in corpus.clips], list(fr.skipped))


@dataclass
class PoolModel:
    """What a model says of every clip of a pool: class probabilities [shape=(N, C)] (the GNN
    after correct & smooth), the clip embeddings [shape=(N, 128)], and how it was made."""

    proba: np.ndarray
    embeddings: np.ndarray
    how: str
    run: "RunData | None" = None  # the RunData of a fresh training (its Siamese network, settings)
    gnn: "TrainResult | None" = None  # the GNN's TrainResult of a fresh training
    seconds: float = 0.0


def label_less_settings(preset: str = "cpu", *, seed: int = 0, epochs: int | None = None,
                        contrastive: float | None = None, device: str | None = None) -> ModelSettings:
    """The settings of a fresh training on few labels (``train --labels``, ``suggest``): the
    preset's, with the contrastive loss at :data:`LABELS_CONTRASTIVE` where none is given.

    Examples
    --------
    >>> from graham.workflows.label_less import label_less_settings
    >>> label_less_settings("cpu").siamese.contrastive, label_less_settings("cpu", contrastive=0).siamese.contrastive
    (1.0, 0)
    """
    return ModelSettings.from_preset(preset, seed=seed, epochs=epochs, device=device,
                                     contrastive=LABELS_CONTRASTIVE.get(preset) if contrastive is None else contrastive)


def fit_pool(pool: LabelledPool, settings: ModelSettings | None = None, *, progress: bool = True) -> PoolModel:
    """A fresh training on the labelled clips: the Siamese network on them (with the setting
    ``contrastive`` > 0, on every clip's audio too), the GNN over every clip of the pool (the
    unlabelled ones unlabelled nodes), correct & smooth. ``settings`` None:
    :func:`label_less_settings`."""
    from ..evaluate.methods import RunData, run_gnn

    settings = settings or label_less_settings()
    labelled = pool.labelled
    counts = np.bincount(pool.labels[labelled], minlength=len(pool.classes))
    if len(pool.classes) < 2 or (counts < 1).any():
        raise DatasetError(f"training needs labelled clips of at least two classes; the labels give "
                           f"{', '.join(f'{c} {n}' for c, n in zip(pool.classes, counts)) or 'none'}")
    t0 = time.perf_counter()
    split = Split(np.arange(len(pool.labels)), pool.unlabelled, f"the labels given: {len(labelled)} clips labelled")
    sia, seed = settings.siamese, settings.siamese.seed
    d = RunData(pool.mels, pool.labels, pool.classes, split, labelled, sia, settings.gnn, settings.gnn_train,
                seed=seed, device=settings.device, progress=progress, groups=pool.groups)
    g = run_gnn(d)
    with_audio = (f", the contrastive loss (weight {sia.contrastive:g}) on every clip's audio" if sia.contrastive > 0
                  else "")
    return PoolModel(g.extras["proba"], d.embeddings, f"a fresh training ({sia.preset} preset, seed {seed}) on "
                     f"{len(labelled)} labelled clips{with_audio}", d, cast("TrainResult", g.model),
                     time.perf_counter() - t0)


def pool_from_bundle(pool: LabelledPool, bundle_dir: str | os.PathLike, *, seed: int = 0,
                     device: str | None = None) -> PoolModel:
    """The model of a bundle, no retraining of its Siamese network: the labelled clips of the
    pool that are not already its reference clips join its graph (:func:`extend_bundle`: the GNN
    refit in seconds), then every clip is predicted as ``graham predict`` does."""
    from ..inference.bundle import load_bundle
    from ..inference.predict import GenreClassifier
    from .extend import extend_bundle

    t0 = time.perf_counter()
    bundle = load_bundle(bundle_dir)
    if bundle.mel.to_dict() != pool.mel_config.to_dict():
        raise BundleError(f"{bundle_dir} was made with other log-mel settings than the features of {pool.dataset}; "
                          "make the features with the bundle's settings (graham features --config from it)")
    refs = set(bundle.reference_ids or ())
    add: dict[str, list] = {}
    ids: dict[str, list[str]] = {}
    for i in pool.labelled:
        cid = pool.corpus.clip_ids[i]
        if cid not in refs:
            add.setdefault(pool.classes[pool.labels[i]], []).append(np.asarray(pool.mels[i]))
            ids.setdefault(pool.classes[pool.labels[i]], []).append(cid)
    model = GenreClassifier(extend_bundle(bundle, add, ids=ids, seed=seed, device=device), device=device)
    order = [model.classes.index(c) for c in pool.classes if c in model.classes]
    proba = np.zeros((len(pool.labels), len(pool.classes)))
    emb = np.zeros((len(pool.labels), bundle.reference.shape[1]), dtype=np.float32)
    import torch

    for i, m in enumerate(pool.mels):
        m = np.asarray(m)
        e, _ = model.window_embeddings(m)
        p = model.node_probabilities(torch.from_numpy(e), model.clip_statistics(m)).cpu().numpy().mean(0)
        emb[i] = e.mean(0)
        proba[i, :len(order)] = p[order]
    how = (f"the bundle {bundle_dir} (its Siamese network; {sum(map(len, add.values()))} labelled clips joined its "
           "graph, the GNN refit)")
    return PoolModel(proba, emb, how, seconds=time.perf_counter() - t0)


@dataclass
class SuggestOutcome:
    out: Path
    picks: list[Candidate]
    rows: list[dict]
    how: str
    page: Path


def _nearest_labelled(emb: np.ndarray, labelled: np.ndarray, i: int, k: int = 3) -> list[int]:
    if not len(labelled):
        return []
    z = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    sims = z[labelled] @ z[i]
    return [int(labelled[j]) for j in np.argsort(-sims)[:k]]


def suggest(source: DataSource, labels_csv: str | os.PathLike, budget: int, out: str | os.PathLike,
            settings: ModelSettings | None = None, *, bundle: str | os.PathLike | None = None,
            strategy: str = DEFAULT_STRATEGY, per_group: int = 2, new_groups_first: bool = True, seed: int = 0,
            audio_seconds: float = 10.0, progress: bool = True) -> SuggestOutcome:
    """``graham suggest``: rank ``budget`` unlabelled clips to label next.

    Parameters
    ----------
    source : DataSource
        The collection (``audio:DIR`` for one nobody has labelled).
    labels_csv : str or os.PathLike
        ``clip_id,label`` rows: the labels given so far.
    budget : int >= 1
        How many clips to suggest.
    out : str or os.PathLike
        Folder for ``suggestions.csv`` (rank, clip, its current guess, margin, nearest labelled
        clips), ``label.html`` (the page to label them by ear, which saves a labels CSV) and
        ``suggest.json``.
    settings : ModelSettings, optional
        A fresh training's settings (None: :func:`label_less_settings`); with ``bundle``, only
        its device is used.
    bundle : str or os.PathLike, optional
        Use this bundle's model instead of a fresh training (the labels given join its graph).
    strategy : str
        One of :data:`graham.labelling.select.STRATEGIES`.
    per_group : int
        At most this many clips of one group (album, track).
    new_groups_first : bool
        Clips of groups with no labelled clip first.
    seed : int
        Seed of the selection (and of a fresh training's settings when none are given).
    audio_seconds : float
        Seconds of each clip the page plays.
    progress : bool
        Show progress bars.

    Returns
    -------
    SuggestOutcome

    Examples
    --------
    Two clips labelled, four more suggested with a trained bundle's model (``bundle``):

    >>> from pathlib import Path
    >>> from graham.workflows.label_less import suggest
    >>> from graham.workflows.requests import DataSource
    >>> _ = Path(f"{tmp}/labels.csv").write_text("clip_id,label\\nrock.00000,rock\\njazz.00001,jazz\\n")
    >>> o = suggest(DataSource("synthetic:4x3"), f"{tmp}/labels.csv", 4, f"{tmp}/next", bundle=bundle, progress=False)
    >>> len(o.rows), {"rock.00000", "jazz.00001"} & {r["clip_id"] for r in o.rows}, o.page.name
    (4, set(), 'label.html')
    """
    from ..inference.bundle import load_bundle
    from ..labelling.page import write_label_page

    if budget < 1:
        raise ParameterError("--budget must be >= 1")
    out = writable_folder(out)
    settings = settings or label_less_settings(seed=seed)
    pool = labelled_pool(source, labels_csv, progress=progress, classes=load_bundle(bundle).classes if bundle else None)
    if budget > len(pool.unlabelled):
        raise ParameterError(f"--budget {budget} is larger than the unlabelled pool ({len(pool.unlabelled)} clips)")
    model = (pool_from_bundle(pool, bundle, seed=seed, device=settings.device) if bundle
             else fit_pool(pool, settings, progress=progress))
    picks = select_batch(model.embeddings, model.proba, pool.labelled, pool.unlabelled, budget, groups=pool.groups,
                         per_group=per_group, strategy=strategy, new_groups_first=new_groups_first, seed=seed)
    rows = [_suggestion(pool, model, p) for p in picks]
    write_text(out / "suggestions.csv", csv_text(
        [["rank", "clip_id", "guess", "guess_probability", "margin", "score", "nearest_labelled", "group", "path"]]
        + [[r["rank"], r["clip_id"], r["guess"], r["guess_probability"], r["margin"], r["score"],
          "; ".join(f"{c} ({lab})" for c, lab in r["nearest_labelled"]), r["group"], r["path"]] for r in rows]))
    given = {pool.corpus.clip_ids[i]: pool.classes[pool.labels[i]] for i in pool.labelled}
    page = write_label_page(out / "label.html", rows, pool.mels, [p.index for p in picks], classes=pool.classes,
                            given=given, audio_seconds=audio_seconds)
    write_json(out / "suggest.json", {"dataset": source.spec, "labels": str(labels_csv), "budget": budget,
                                      "strategy": strategy, "per_group": per_group,
                                      "new_groups_first": new_groups_first, "seed": seed, "model": model.how,
                                      "labelled": int(len(pool.labelled)), "pool": int(len(pool.unlabelled)),
                                      "suggestions": rows, "skipped": [str(s) for s in pool.skipped]})
    return SuggestOutcome(out, picks, rows, model.how, page)


def _suggestion(pool: LabelledPool, model: PoolModel, p: Candidate) -> dict:
    """One row of ``suggestions.csv`` and the page: the clip, its guess and nearest labels."""
    ids = pool.corpus.clip_ids
    order = np.argsort(-model.proba[p.index])
    near = _nearest_labelled(model.embeddings, pool.labelled, p.index)
    return {"rank": p.rank + 1, "clip_id": ids[p.index], "path": str(pool.corpus.clips[p.index].path),
            "group": pool.corpus.groups[p.index], "guess": pool.classes[order[0]],
            "guess_probability": round(float(model.proba[p.index, order[0]]), 4),
            "top": [(pool.classes[c], round(float(model.proba[p.index, c]), 4)) for c in order[:3]],
            "margin": round(p.margin, 4), "score": round(p.score, 4), "distance": round(p.distance, 4),
            "nearest_labelled": [(ids[j], pool.classes[pool.labels[j]]) for j in near]}


def train_on_labels(source: DataSource, labels_csv: str | os.PathLike, out: str | os.PathLike,
                    settings: ModelSettings | None = None, *, progress: bool = True) -> dict:
    """``graham train --labels``: train on the labels given, every other clip an unlabelled node.

    The Siamese network on the labelled clips, the GNN over every clip of the data set, a
    bundle whose reference nodes are every clip (labelled or not, as in training),
    ``predictions.csv`` of every unlabelled clip and ``metrics.json``: where the data set has
    labels of its own, they score the unlabelled clips' predictions (never used for training).

    Parameters
    ----------
    source : DataSource
        The data set.
    labels_csv : str or os.PathLike
        ``clip_id,label`` rows: the only labels read.
    out : str or os.PathLike
        The run folder.
    settings : ModelSettings, optional
        None: :func:`label_less_settings`.
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        What ``metrics.json`` holds.

    Examples
    --------
    One labelled clip of each of two genres; ``tiny`` stands for a test-sized network's settings
    (a user passes nothing, or :func:`label_less_settings`):

    >>> from pathlib import Path
    >>> from graham.workflows.label_less import train_on_labels
    >>> from graham.workflows.requests import DataSource
    >>> _ = Path(f"{tmp}/labels.csv").write_text("clip_id,label\\nrock.00000,rock\\njazz.00001,jazz\\n")
    >>> doc = train_on_labels(DataSource("synthetic:2x3"), f"{tmp}/labels.csv", f"{tmp}/run", tiny, progress=False)
    >>> doc["classes"], doc["labelled"], doc["unlabelled"]
    (['jazz', 'rock'], 2, 18)
    """
    from ..evaluate.metrics import classification_metrics
    from .train import bundle_from_run

    out = writable_folder(out)
    pool = labelled_pool(source, labels_csv, progress=progress)
    model = fit_pool(pool, settings, progress=progress)
    assert model.run is not None and model.gnn is not None  # a fresh training's
    bundle_from_run(model.run, model.gnn, mel=pool.mel_config, reference=np.arange(len(pool.labels)),
                    reference_labels=pool.labels, clip_ids=pool.corpus.clip_ids,
                    info={"dataset": source.spec, "split": "the labels given", "labels": str(labels_csv)}
                    ).save(out / "bundle")
    ids, pred, srt = pool.corpus.clip_ids, model.proba.argmax(1), np.sort(model.proba, axis=1)
    write_text(out / "predictions.csv", csv_text([["clip_id", "label", "probability", "margin"]] + [
        [ids[i], pool.classes[pred[i]], round(float(srt[i, -1]), 4), round(float(srt[i, -1] - srt[i, -2]), 4)]
        for i in pool.unlabelled]))
    scored = [i for i in pool.unlabelled if pool.truth[i] != UNLABELLED and pool.truth[i] in pool.classes]
    metrics = None
    if scored:
        y = np.array([pool.classes.index(pool.truth[i]) for i in scored])
        metrics = dict(classification_metrics(y, pred[scored], pool.classes))
    doc = {"dataset": source.spec, "labels": str(labels_csv), "classes": pool.classes,
           "labelled": int(len(pool.labelled)), "unlabelled": int(len(pool.unlabelled)), "model": model.how,
           "seconds": round(model.seconds, 1),
           "unlabelled_scored_against_the_data_sets_own_labels": metrics, "skipped": [str(s) for s in pool.skipped]}
    write_json(out / "metrics.json", doc)
    return doc
