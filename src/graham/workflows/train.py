"""``graham train``: the whole path on one split (features, Siamese network, GrahAM's GNN, the
other methods, test metrics), the bundle it ships, scored as it predicts, and its report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence, cast

import numpy as np

from ..audio.mel import MelConfig
from ..data.corpus import Corpus
from ..data.features import take
from ..errors import ParameterError
from ..evaluate.methods import DEFAULT_METHODS, METHODS, RunData, result_title, siamese_sources
from ..evaluate.metrics import classification_metrics
from ..evaluate.protocol import ExperimentResult, score_run
from ..evaluate.splits import labelled_subset
from ..inference.bundle import Bundle
from ..nn.gnn import GNNConfig, GrahamGNN
from ..nn.siamese import SiameseNet
from ..presets import GNNTrainConfig, SiameseConfig
from ..utils.devices import resolve_device
from ..utils.files import writable_folder, write_json
from ..utils.tensorfile import save_checkpoint
from .features import Prepared, prepare
from .requests import DataSource, ModelSettings

if TYPE_CHECKING:
    from ..inference.predict import GenreClassifier
    from ..train.loop import TrainResult

__all__ = ["TrainOutcome", "train_model", "bundle_from_run", "score_classifier", "report_run"]


@dataclass
class TrainOutcome:
    """Everything :func:`train_model` produced, for the report and the caller."""

    out: Path
    dataset: str
    corpus: Corpus
    classes: list[str]
    labels: np.ndarray
    split_name: str
    train_idx: np.ndarray
    test_idx: np.ndarray
    labelled_idx: np.ndarray
    metrics: dict
    embeddings: np.ndarray
    hidden: np.ndarray
    models: dict
    skipped: list
    mel: MelConfig
    siamese_config: SiameseConfig
    gnn_config: GNNConfig
    timings: dict = field(default_factory=dict)
    gnn_train: GNNTrainConfig = field(default_factory=GNNTrainConfig)
    classifier: "GenreClassifier | None" = None  # the saved bundle, loaded
    excluded: list = field(default_factory=list)  # Skipped: clips left out by ``exclude``, with the reason
    protocol_why: str = ""  # why the split's protocol was chosen, in words
    leakage: str | None = None  # the line saying how many groups the split cuts, when it cuts any


def train_model(source: DataSource, out: str | Path, settings: ModelSettings | None = None, *,
                protocol: str = "auto", seed: int = 0, fraction: float = 1.0, test_size: float = 0.3,
                methods: Sequence[str] = DEFAULT_METHODS, resume: bool = False, progress: bool = True,
                notify: Callable[[str], None] | None = None) -> TrainOutcome:
    """The whole path on one split, and the bundle it ships.

    Features, the Siamese network (checkpoints in ``out/siamese``), embeddings, GrahAM's GNN
    (transductive: test clips are unlabelled nodes), the other ``methods``, test metrics
    (``out/metrics.json``) and a bundle (``out/bundle``) whose reference nodes are the training
    clips. The bundle is then scored as it predicts (inductive: each test clip cut into
    windows, each window a new node attached to the training clips, probabilities averaged):
    ``metrics["shipped_model"]``.

    Parameters
    ----------
    source : DataSource
        The data set.
    out : str or Path
        The run folder.
    settings : ModelSettings, optional
        Every training setting; None: the ``cpu`` preset. Its seeds are set to ``seed``.
    protocol : {'auto', 'paper', 'random', 'grouped', 'given'}
        ``auto`` splits a corpus with groups of several clips by group (70:30, no group on
        both sides) and any other at random (the paper's split).
    seed : int
        Seed of the split, the labelled subset and every training.
    fraction : float in (0, 1]
        Labelled share of the training clips.
    test_size : float in (0, 1)
        Test share of the split.
    methods : sequence of str
        Keys of :data:`graham.evaluate.methods.METHODS`; GrahAM's GNN always runs.
    resume : bool
        Resume the Siamese network from ``out/siamese/last.safetensors``.
    progress : bool
        Show progress bars.
    notify : callable, optional
        ``notify(line)`` hears the split and, when it puts clips of one group on both sides,
        the leakage line, as soon as they are known.

    Returns
    -------
    TrainOutcome

    Examples
    --------
    On the built-in synthetic corpus (4 clips of 3 s per genre); ``tiny`` stands for the
    settings of a network small enough for a test, where a user passes
    ``ModelSettings.from_preset("cpu")`` or nothing:

    >>> from graham.workflows.requests import DataSource
    >>> from graham.workflows.train import train_model
    >>> o = train_model(DataSource("synthetic:4x3"), f"{tmp}/run", tiny, methods=["grahams_gnn"], progress=False)
    >>> sorted(o.metrics), len(o.train_idx) + len(o.test_idx)
    (['grahams_gnn', 'shipped_model'], 40)
    >>> sorted(p.name for p in (o.out / "bundle").iterdir())
    ['config.json', 'gnn.safetensors', 'reference.safetensors', 'siamese.safetensors']
    """
    settings = _checked(settings, protocol, methods).with_seed(seed)
    out = writable_folder(out)
    t0 = time.perf_counter()
    prep = prepare(source, protocol=protocol, seed=seed, test_size=test_size, progress=progress, notify=notify)
    t_feat = time.perf_counter() - t0
    split = prep.split
    assert split is not None  # asked for with a protocol
    labelled = labelled_subset(split.train, prep.labels, fraction, seed=seed)
    data = RunData(prep.mels, prep.labels, prep.corpus.classes, split, labelled, settings.siamese, settings.gnn,
                   settings.gnn_train, seed=seed, device=settings.device, progress=progress,
                   siamese_out=out / "siamese", resume=resume, groups=np.asarray(prep.corpus.groups))
    metrics, emb, hidden, models = score_run(data, ("grahams_gnn",) + tuple(m for m in methods if m != "grahams_gnn"))
    t_train = time.perf_counter() - t0 - t_feat
    save_checkpoint(out / "embeddings.safetensors", {"embeddings": _tensor(emb), "labels": _tensor(prep.labels)},
                    {"clip_ids": prep.corpus.clip_ids, "classes": prep.corpus.classes})
    gnn = cast("TrainResult", models["grahams_gnn"])
    ref_labels = np.full(len(prep.labels), -1, dtype=np.int64)  # -1: a training clip whose label was not used
    ref_labels[labelled] = prep.labels[labelled]
    bundle = bundle_from_run(data, gnn, mel=prep.run.features.config, reference=split.train,
                             reference_labels=ref_labels[split.train], clip_ids=prep.corpus.clip_ids,
                             info={"dataset": source.spec, "split": split.name, "labelled_fraction": fraction})
    shipped = _ship(bundle, out / "bundle", settings.device)
    metrics["shipped_model"] = score_classifier(shipped, take(prep.mels, split.test), prep.labels[split.test],
                                                prep.corpus.classes)
    timings = {"features_s": round(t_feat, 1), "training_s": round(t_train, 1),
               "siamese_s": round(models["siamese"].seconds, 1), "gnn_s": round(gnn.seconds, 1),
               **({"cross_fit_s": round(data.cross_fit.seconds, 1)} if data.cross_fit else {})}
    outcome = _outcome(out, source, prep, data, metrics, emb, hidden, models, timings, shipped)
    write_json(out / "metrics.json", _metrics_doc(outcome))
    return outcome


def _checked(settings: ModelSettings | None, protocol: str, methods: Sequence[str]) -> ModelSettings:
    """``train_model``'s request checked before any work, not after the Siamese network trained."""
    if protocol == "kfold":
        raise ParameterError("train uses one split: protocol auto, random (paper), grouped or given (k-fold: graham "
                             "experiment)")
    settings = settings or ModelSettings.from_preset("cpu")
    if settings.siamese.cross_fit and settings.siamese.cross_fit_others != "main":
        raise ParameterError("a bundle serves new clips the main network's embedding, so train needs cross_fit_others "
                             "main; mean is for experiment")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ParameterError(f"unknown method {', '.join(map(repr, unknown))}; known: {', '.join(METHODS)}")
    resolve_device(settings.device)  # a device this torch cannot use: say so before any work
    return settings


def _tensor(a: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


def _ship(bundle: Bundle, path: Path, device: str | None) -> "GenreClassifier":
    """Write ``bundle`` to ``path`` and load it back as ``predict`` will: the model scored and
    explained is the one on disk."""
    from ..inference.predict import load

    bundle.save(path)
    return load(path, device=device)


def _outcome(out: Path, source: DataSource, prep: Prepared, data: RunData, metrics: dict, emb, hidden, models: dict,
             timings: dict, shipped) -> TrainOutcome:
    split = data.split
    return TrainOutcome(
        out=out, dataset=source.spec, corpus=prep.corpus, classes=list(data.classes), labels=prep.labels,
        split_name=split.name, train_idx=split.train, test_idx=split.test, labelled_idx=data.labelled,
        metrics=metrics, embeddings=emb, hidden=hidden, models=models, skipped=prep.run.skipped,
        mel=prep.run.features.config, siamese_config=data.siamese_config, gnn_config=data.gnn_config,
        timings=timings, gnn_train=data.gnn_train, classifier=shipped, excluded=prep.excluded,
        protocol_why=prep.protocol_why, leakage=prep.leakage)


def bundle_from_run(run: RunData, gnn: "TrainResult", *, mel: MelConfig, reference: np.ndarray,
                    reference_labels: np.ndarray, clip_ids: Sequence[str], info: dict) -> Bundle:
    """The bundle of a training run: its Siamese network and GNN, the clips ``reference``
    (indices into the run's clips) as reference nodes with ``reference_labels`` (-1: trained
    on without a label), their node features as the run's GNN read them, and the GNN's
    training recipe in ``info`` (``graham extend`` refits with it).

    The one way a workflow makes a bundle from a training; :meth:`Bundle.save` writes it."""
    assert gnn.mean is not None and gnn.scale is not None  # a GNN's TrainResult keeps its standardisation
    emb = run.embeddings
    stats = run.node_features[reference, emb.shape[1]:] if run.gnn_config.band_statistics else None
    return Bundle(mel, run.siamese_config, run.gnn_config, list(run.classes), cast(SiameseNet, run.siamese.model),
                  cast(GrahamGNN, gnn.model), gnn.mean, gnn.scale, emb[reference], np.asarray(reference_labels),
                  {**info, "gnn_training": run.gnn_train.to_dict()}, stats, [str(clip_ids[i]) for i in reference])


def score_classifier(model: "GenreClassifier", mels, labels, classes: list[str]) -> dict:
    """Metrics of a loaded bundle predicting clips as ``graham predict`` does (inductive,
    windowed, probabilities averaged over windows), from their log-mels."""
    pred = [classes.index(model.predict_mel(np.asarray(m), top_k=1).label) for m in mels]
    return {**classification_metrics(np.asarray(labels), np.asarray(pred), list(classes)), "predicted": pred}


def report_run(outcome: TrainOutcome, *, experiment: ExperimentResult | list[ExperimentResult] | None = None,
               explain_per_genre: int = 1, progress: bool = True) -> Path:
    """Figures and ``report.html`` of a training run (Grad-CAM++ through its bundle)."""
    from ..report.run_report import write_run_report

    classifier = outcome.classifier
    if classifier is None:  # an outcome made elsewhere: its bundle from disk
        from ..inference.predict import load

        classifier = load(outcome.out / "bundle")
    return write_run_report(outcome, classifier, experiment=experiment, explain_per_genre=explain_per_genre,
                            progress=progress)


def _metrics_doc(o: TrainOutcome) -> dict:
    return {
        "dataset": o.dataset, "corpus": o.corpus.name, "classes": o.classes,
        "protocol": {"split": o.split_name, "chosen": o.protocol_why, "leakage": o.leakage,
                     "train_clips": int(len(o.train_idx)), "test_clips": int(len(o.test_idx)),
                     "labelled_clips": int(len(o.labelled_idx)),
                     "mode": "transductive: test clips are unlabelled nodes of the graph while the GNN trains",
                     "siamese_trained_on": siamese_sources(o.siamese_config, len(o.labelled_idx), len(o.train_idx))},
        "results": {result_title(m): v for m, v in o.metrics.items()},
        "results_note": (f"test clips of the split; every method but the last is transductive (test clips are "
                         f"unlabelled nodes of the graph while the GNN trains); '{result_title('shipped_model')}' is "
                         "the saved bundle predicting each test clip as graham predict does"),
        "settings": {"mel": o.mel.to_dict(), "siamese": o.siamese_config.to_dict(), "gnn": o.gnn_config.to_dict(),
                     "gnn_training": o.gnn_train.to_dict()},
        "timings": o.timings, "skipped": [str(s) for s in o.skipped],
        "excluded": [{"path": s.path, "reason": s.reason} for s in o.excluded],
        "siamese_history": o.models["siamese"].history,
    }
