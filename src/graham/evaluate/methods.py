"""The methods of Table 1, as one registry: each is a key, a title for tables and a function that
fits on the labelled training clips of one run and predicts its test clips.

The report and the tables iterate over :data:`METHODS` and never name a method. Methods on the
Siamese embeddings share one trained Siamese network per run (:class:`RunData` trains it on
first use); the others (the supervised CNN, the log-mel floor) never touch it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, cast

import numpy as np
import torch

from ..audio.bandstats import mel_band_statistics
from ..data.features import take
from ..nn import propagate
from ..nn.gnn import GNNConfig
from ..nn.graphs import attach_graph, build_graph
from ..nn.node_features import clip_node_features, standardise
from ..nn.propagate import SmoothConfig, attach_smoothed, correct_and_smooth, normalise_scores, smooth_reference
from ..nn.siamese import SiameseNet
from ..presets import GNNTrainConfig, SiameseConfig
from ..train.embed import embed_clips
from ..train.gnn import known_labels, train_gnn
from ..train.siamese import SiameseResult, train_siamese
from ..train.supervised import predict_proba_clips, train_supervised_cnn
from .baselines import fit_baseline, fit_mel_floor, label_spreading
from .cross_fit import CrossFit, cross_fit_embeddings
from .splits import Split

__all__ = ["RunData", "MethodRun", "Method", "METHODS", "METHOD_NAMES", "DEFAULT_METHODS", "run_gnn", "siamese_sources",
           "result_title"]


@dataclass
class RunData:
    """Everything one run of the protocol knows: the clips, the split, which training clips are
    labelled, the settings, and (trained on first use) the Siamese network and embeddings."""

    mels: Sequence[np.ndarray]
    labels: np.ndarray
    classes: list[str]
    split: Split
    labelled: np.ndarray
    siamese_config: SiameseConfig
    gnn_config: GNNConfig
    gnn_train: GNNTrainConfig
    mode: str = "transductive"
    seed: int = 0
    device: str | None = None
    progress: bool = False
    siamese_out: object = None
    resume: bool = False
    groups: np.ndarray | None = None  # every clip's group, for grouped validation (None: no groups)

    @functools.cached_property
    def siamese(self) -> SiameseResult:
        """The Siamese network: labels of the labelled training clips only; the unlabelled
        training clips' audio in the contrastive loss (with the setting ``contrastive``). No
        test clip is seen, so the embedding is the same transductive or inductive."""
        unlabelled = take(self.mels, np.setdiff1d(self.split.train, self.labelled))  # lazy; read only if used
        return train_siamese(take(self.mels, self.labelled), self.labels[self.labelled], self.siamese_config,
                             unlabelled=unlabelled, groups=self.labelled_groups, device=self.device,
                             progress=self.progress,
                             out=self.siamese_out, resume=self.resume)

    @property
    def labelled_groups(self) -> np.ndarray | None:
        """The labelled clips' groups (what their validation split keeps apart), or None."""
        return None if self.groups is None else np.asarray(self.groups)[self.labelled]

    @functools.cached_property
    def node_features(self) -> np.ndarray:
        """What a node of GrahAM's graph holds [shape=(N, d)]: the embedding, and with the GNN
        setting ``band_statistics`` the clip's log-mel band statistics beside it."""
        return clip_node_features(self.embeddings, self.mels, self.gnn_config.band_statistics)

    @functools.cached_property
    def full_embeddings(self) -> np.ndarray:
        """Every clip's 128-d embedding (mean over windows) by the network trained on every
        labelled clip [shape=(N, 128)]: what a new clip gets from the bundle."""
        return embed_clips(cast(SiameseNet, self.siamese.model), self.mels, crop_frames=self.siamese_config.crop_frames,
                           device=self.device)

    @functools.cached_property
    def cross_fit(self) -> CrossFit | None:
        """With the Siamese setting ``cross_fit`` K: the labelled clips' out-of-fold embeddings
        (:mod:`graham.evaluate.cross_fit`), aligned on the graph's other nodes (every clip in a
        transductive run, the training clips in an inductive one); None when off."""
        k = self.siamese_config.cross_fit
        if k < 2:
            return None
        unlabelled = np.setdiff1d(self.split.train, self.labelled)
        crop = self.siamese_config.crop_frames

        def train_and_embed(j: int, fit: np.ndarray, embed: np.ndarray) -> tuple[object, np.ndarray]:
            out = None if self.siamese_out is None else Path(str(self.siamese_out) + f"-part{j + 1}")
            res = train_siamese(take(self.mels, fit), self.labels[fit], self.siamese_config,
                                unlabelled=take(self.mels, unlabelled),
                                groups=None if self.groups is None else np.asarray(self.groups)[fit],
                                device=self.device, progress=self.progress, out=out, resume=self.resume)
            model = cast(SiameseNet, res.model)
            return model, embed_clips(model, take(self.mels, embed), crop_frames=crop, device=self.device)

        anchors = np.arange(len(self.mels)) if self.mode == "transductive" else np.sort(self.split.train)
        return cross_fit_embeddings(self.full_embeddings, self.labelled, self.labels, self.groups, anchors, k,
                                    self.siamese_config.seed, train_and_embed,
                                    others=self.siamese_config.cross_fit_others)

    @functools.cached_property
    def embeddings(self) -> np.ndarray:
        """Every clip's 128-d embedding [shape=(N, 128)], the nodes' and every baseline's: the
        main network's (:attr:`full_embeddings`), with the labelled rows out of fold when
        cross-fitting (:attr:`cross_fit`)."""
        cf = self.cross_fit
        return self.full_embeddings if cf is None else cf.embeddings


def siamese_sources(config: SiameseConfig, n_labelled: int, n_train: int) -> str:
    """Which training clips the Siamese network of a run learned from, and how, in words (for
    metrics.json and the report)."""
    what = ("labelled training clips (labels); unlabelled training clips (audio alone, contrastive loss)"
            if config.contrastive > 0 and n_labelled < n_train else "labelled training clips only")
    if config.cross_fit:
        what += (f"; each labelled clip's embedding from one of {config.cross_fit} more networks that did not train on "
                 "it (cross-fitted, grouped parts)")
    return what


@dataclass
class MethodRun:
    """Predicted classes of the test clips, the fitted model, and extras for figures."""

    pred: np.ndarray
    model: object = None
    extras: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    key: str
    title: str
    uses_siamese: bool
    run: Callable[[RunData], MethodRun]
    about: str = ""


def run_gnn(d: RunData) -> MethodRun:
    """GrahAM: the GNN over the graph of clips (all clips: transductive; training clips, test
    clips attached afterwards: inductive), nodes holding :attr:`RunData.node_features`, the
    graph built on the embeddings; loss on the labelled nodes only. Extras: the GNN's
    hidden features of every clip (``hidden``), its class probabilities of every clip (``proba``,
    after correct & smooth with the GNN setting ``smooth``; inductive: the training clips among
    themselves, each test clip attached to them) and the :class:`GNNResult` (``gnn``)."""
    emb, feats, labels, test = d.embeddings, d.node_features, d.labels, d.split.test
    head = cast(SiameseNet, d.siamese.model).head  # in eval mode after training; left on its device, never moved
    dev = next(head.parameters()).device
    cfg = d.gnn_config
    emb_dev = torch.as_tensor(emb, dtype=torch.float32, device=dev)
    if d.mode == "transductive":
        graph = build_graph(cfg.graph, emb_dev, k=cfg.k, head=head).to("cpu")
        res = train_gnn(feats, labels, d.labelled, len(d.classes), config=cfg, train=d.gnn_train, graph=graph,
                        device=d.device, progress=d.progress)
        xs = torch.as_tensor(standardise(feats, res.mean, res.scale), dtype=torch.float32)
        with torch.no_grad():
            logits, hidden = res.model.cpu()(xs, graph, labels=known_labels(labels, d.labelled, len(emb)),
                                             return_hidden=True)
        proba = torch.softmax(logits, 1)
        if cfg.smooth:
            proba = normalise_scores(correct_and_smooth(proba, _graph_features(emb, res), labels[d.labelled],
                                                        d.labelled, SmoothConfig(k=cfg.k)))
        pred = proba[test].argmax(1).numpy()
    else:
        nodes = np.sort(d.split.train)
        pos = np.searchsorted(nodes, d.labelled)
        graph = build_graph(cfg.graph, emb_dev[nodes], k=cfg.k, head=head).to("cpu")
        res = train_gnn(feats[nodes], labels[nodes], pos, len(d.classes), config=cfg, train=d.gnn_train, graph=graph,
                        device=d.device, progress=d.progress)
        xs = torch.as_tensor(standardise(feats, res.mean, res.scale), dtype=torch.float32)
        attach = attach_graph(cfg.graph, emb_dev[nodes], emb_dev[test], k=cfg.k, head=head).to("cpu")
        with torch.no_grad():
            model = res.model.cpu()
            ref_labels = known_labels(labels[nodes], pos, len(nodes))
            states = model.reference_states(xs[nodes], graph, labels=ref_labels)
            _, hidden_ref = model(xs[nodes], graph, labels=ref_labels, return_hidden=True)
            logits_test, hidden_test = model.forward_inductive(None, xs[test], attach=attach, ref_states=states,
                                                               return_hidden=True)
            logits_ref = model.classifier(hidden_ref)
        proba_ref, proba_test = torch.softmax(logits_ref, 1), torch.softmax(logits_test, 1)
        if cfg.smooth:  # the training clips among themselves; each test clip attached to its k nearest
            z = _graph_features(emb, res)
            ref = smooth_reference(proba_ref, z[nodes], labels[d.labelled], pos, SmoothConfig(k=cfg.k))
            proba_ref = normalise_scores(ref.scores).float()
            proba_test = normalise_scores(attach_smoothed(ref, proba_test, z[test]))
        pred = proba_test.argmax(1).numpy()
        hidden = torch.zeros(len(emb), hidden_ref.shape[1])
        hidden[nodes], hidden[test] = hidden_ref, hidden_test
        proba = torch.zeros(len(emb), len(d.classes))
        proba[nodes], proba[test] = proba_ref, proba_test
    return MethodRun(pred, res, {"hidden": hidden.numpy(), "gnn": res, "proba": proba.numpy()})


def _graph_features(emb: np.ndarray, res) -> torch.Tensor:
    """:func:`~graham.nn.propagate.graph_coordinates` of the embeddings with the statistics the GNN ``res`` used."""
    return torch.as_tensor(propagate.graph_coordinates(emb, res.mean, res.scale), dtype=torch.float32)


def _embedding_baseline(name: str) -> Callable[[RunData], MethodRun]:
    def run(d: RunData) -> MethodRun:
        clf = fit_baseline(name, d.embeddings[d.labelled], d.labels[d.labelled], seed=d.seed)
        return MethodRun(clf.predict(d.embeddings[d.split.test]), clf)
    return run


def _label_spreading(d: RunData) -> MethodRun:
    test = d.split.test
    if d.mode == "transductive":
        return MethodRun(label_spreading(d.embeddings, d.labels, d.labelled, test))
    # Inductive: the graph holds the training clips and one test clip at a time.
    train = np.sort(d.split.train)
    pos = np.searchsorted(train, d.labelled)
    pred = [label_spreading(d.embeddings[np.append(train, t)], d.labels[np.append(train, t)], pos,
                            np.array([len(train)]))[0]
            for t in test]
    return MethodRun(np.asarray(pred))


def _supervised_cnn(d: RunData) -> MethodRun:
    res = train_supervised_cnn(take(d.mels, d.labelled), d.labels[d.labelled], len(d.classes),
                               d.siamese_config, groups=d.labelled_groups, device=d.device, progress=d.progress)
    proba = predict_proba_clips(res.model, take(d.mels, d.split.test),
                                crop_frames=d.siamese_config.crop_frames, device=d.device)
    return MethodRun(proba.argmax(1), res)


def _mel_floor(d: RunData) -> MethodRun:
    feats = mel_band_statistics(d.mels)
    clf = fit_mel_floor(feats[d.labelled], d.labels[d.labelled], seed=d.seed)
    return MethodRun(clf.predict(feats[d.split.test]), clf)


METHODS: dict[str, Method] = {m.key: m for m in (
    Method("grahams_gnn", "GrahAM (GNN)", True, run_gnn,
           "the GrahAM GNN over the graph of clips (graph, node features and correct & smooth as the run's GNN "
           "settings say); only labelled training clips give loss"),
    Method("random_forest", "Random Forest", True, _embedding_baseline("random_forest"),
           "500 trees on the labelled clips' Siamese embeddings (the paper's baseline)"),
    Method("mlp_2layer", "2-layer NN", True, _embedding_baseline("mlp_2layer"),
           "128 ReLU units and a softmax layer on the labelled clips' Siamese embeddings (the paper's baseline)"),
    Method("label_spreading", "Label spreading", True, _label_spreading,
           "scikit-learn LabelSpreading, kNN kernel (k=10), on the Siamese embeddings: a graph method with no training"),
    Method("supervised_cnn", "Supervised CNN", False, _supervised_cnn,
           "the same backbone and preset trained with cross-entropy on the labelled clips; windows averaged"),
    Method("mel_floor", "Log-mel stats + LR", False, _mel_floor,
           "logistic regression on per-band log-mel mean, std and mean |delta|: the floor with no deep learning"),
)}

#: Titles by key, for tables and reports.
METHOD_NAMES: dict[str, str] = {k: m.title for k, m in METHODS.items()}

def result_title(key: str) -> str:
    """The title of a method's result, or of the shipped model's (``shipped_model``: the saved
    bundle predicting as ``graham predict`` does)."""
    return METHOD_NAMES.get(key, "GrahAM bundle (inductive, windowed)" if key == "shipped_model" else key)


#: What ``graham experiment`` and ``graham train`` run unless told otherwise: all of them.
DEFAULT_METHODS: tuple[str, ...] = tuple(METHODS)
