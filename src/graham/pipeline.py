"""The steps the CLI runs, as plain functions: each takes settings and paths and returns results.

The CLI only parses arguments and prints; everything a step does lives here or below.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .audio.mel import MelConfig
from .bundle import save_bundle
from .checks import setting_changes
from .data.corpus import Corpus, Skipped
from .data.features import FeatureSet, FeatureStore, resolve_settings, take
from .data.spec import open_dataset
from .data.store import DEFAULT_SHARD_SIZE
from .errors import DatasetError, ParameterError
from .evaluate.methods import DEFAULT_METHODS, RunData, result_title, siamese_sources
from .evaluate.metrics import classification_metrics
from .evaluate.protocol import METHOD_NAMES, ExperimentResult, ProtocolConfig, RunResult, run_key, run_protocol, score_run
from .evaluate.splits import Split, choose_protocol, labelled_subset, leakage_note, make_splits
from .files import writable_folder, write_json, write_text
from .nn.gnn import GNNConfig
from .paths import cache_dir
from .provenance import code_version
from .ranks import world
from .tensorfile import save_checkpoint
from .train.gnn import GNNTrainConfig
from .train.siamese import SiameseConfig, train_siamese

__all__ = ["FeatureRun", "extract_features", "dataset_features", "TrainOutcome", "train_model", "report_run",
           "run_experiment", "train_siamese_run", "embed_dataset", "run_demo", "run_audit"]

log = logging.getLogger(__name__)


# -- features -------------------------------------------------------------------------------
@dataclass
class FeatureRun:
    """What :func:`extract_features` did: the features, the skipped files, how long it took."""

    features: FeatureSet
    skipped: list
    seconds: float
    out: Path


def extract_features(dataset: str, out: str | os.PathLike, *, clips: str | None = None, config: MelConfig | None = None,
                     workers: int = 2, progress: bool = True, genres: list[str] | None = None,
                     split_lists: dict | None = None, shard_size: int = DEFAULT_SHARD_SIZE) -> FeatureRun:
    """Read ``dataset`` (``KIND:PATH``), store the log-mel of every readable clip under ``out``
    and write ``out/corpus.csv`` (the clips that have features), ``out/skipped.txt`` (every
    file left out, by name, with the reason) and ``out/features.json`` (settings, counts).

    ``config`` None takes the settings ``out`` was made with (``features.json``), or the
    defaults for a new folder; a ``config`` that disagrees with the folder's is a
    :class:`ParameterError`: a folder holds the log-mels of one set of settings.

    Under ``torchrun`` every process takes its share of the shards (gloo, unless a process
    group is already up) and process 0 writes the files above once all shards are done."""
    from .train.distributed import init_from_env

    out = Path(out).expanduser()
    config = resolve_settings(out, None if config is None else config.to_dict())
    t0 = time.perf_counter()
    init_from_env(torch.device("cpu"), timeout_s=_STORE_TIMEOUT_S)
    corpus: Corpus = open_dataset(dataset, clips=clips, genres=genres, split_lists=split_lists, progress=progress)
    store = FeatureStore(out, config, shard_size=shard_size)
    fs = store.extract(corpus, workers=workers, progress=progress)
    skipped = list(corpus.skipped) + list(fs.failed)
    seconds = time.perf_counter() - t0
    if world()[0] == 0:
        write_text(out / "corpus.csv", fs.corpus.to_csv())
        write_text(out / "skipped.txt", "".join(f"{s}\n" for s in skipped))
        write_json(out / "features.json", {
            "dataset": str(dataset), "corpus": fs.corpus.name, "clips": len(fs), "classes": fs.corpus.classes,
            "skipped": len(skipped), "mel": store.config.to_dict(), "store": str(fs.dir), "shard_size": shard_size,
            "seconds": round(seconds, 2), "notes": list(corpus.notes),
        })
    return FeatureRun(fs, skipped, seconds, out)


#: How long a process waits for the others to finish their shards (a process group's
#: default, 30 min, is shorter than extracting AudioSet).
_STORE_TIMEOUT_S = 7 * 24 * 3600


def dataset_features(dataset: str, *, cache: str | os.PathLike | None = None, clips: str | None = None,
                     progress: bool = True, workers: int = 2, split_lists: dict | None = None) -> FeatureRun:
    """The log-mels of ``dataset`` in the feature folder ``cache`` (default: graham's cache),
    made where missing: :func:`extract_features` with the folder's own settings."""
    root = Path(cache) if cache else cache_dir() / "features"
    return extract_features(dataset, root, clips=clips, progress=progress, workers=workers, split_lists=split_lists)


@dataclass
class _Prepared:
    """What every training command starts from: the features of a data set read (or made),
    the corpus checked to hold two classes or more, its labels and, when asked, its split."""

    run: FeatureRun
    corpus: Corpus
    labels: np.ndarray
    split: Split | None = None
    excluded: list = field(default_factory=list)  # Skipped: clips left out by --exclude, with the reason
    protocol_why: str = ""  # why that protocol, in words
    leakage: str | None = None  # a line when the split puts clips of one group on both sides

    @property
    def mels(self):
        return self.run.features.mels


def _prepare(dataset: str, *, cache, clips: str | None, progress: bool, split_lists: dict | None = None,
             protocol: str | None = None, seed: int = 0, test_size: float = 0.3,
             exclude: dict[str, str] | None = None, notify=None) -> _Prepared:
    """Features (made or reused for the whole data set), less the clips ``exclude`` names
    (``{clip_id: reason}``), the class check, labels and, with a ``protocol``, the split
    (``auto``: grouped on a corpus with groups of several clips, else random; see
    :func:`~graham.evaluate.splits.choose_protocol`). ``notify(line)`` hears which split was
    drawn and why, and the leakage line when it cuts groups, as soon as they are known."""
    fr = dataset_features(dataset, cache=cache, clips=clips, progress=progress, split_lists=split_lists)
    excluded: list[Skipped] = []
    if exclude:
        fs = fr.features
        keep = [i for i, c in enumerate(fs.corpus.clips) if c.clip_id not in exclude]
        excluded = [Skipped(str(c.path), exclude[c.clip_id]) for c in fs.corpus.clips if c.clip_id in exclude]
        missing = len(set(exclude) - {c.clip_id for c in fs.corpus.clips})
        if missing:
            log.warning("%d of the %d clip ids to exclude are not in %s", missing, len(exclude), dataset)
        subset = FeatureSet(replace(fs.corpus, clips=tuple(fs.corpus.clips[i] for i in keep)), fs.mels.subset(keep),
                            fs.config, fs.failed, None, [fs.stamps[i] for i in keep], fs.shard_size)
        fr = FeatureRun(subset, fr.skipped, fr.seconds, fr.out)
    corpus = fr.features.corpus
    _require_classes(corpus)
    labels = np.asarray(corpus.targets())
    if protocol is None:
        return _Prepared(fr, corpus, labels, None, excluded)
    chosen, why = choose_protocol(protocol, corpus.groups, grouped="grouped")
    if chosen == "kfold":
        raise ParameterError("this command uses one split: protocol auto, random (paper), grouped or given (k-fold: "
                             "graham experiment)")
    split = make_splits(chosen, labels, seed=seed, groups=corpus.groups, test_size=test_size,
                        splits=[c.split for c in corpus], names=corpus.classes)[0]
    leakage = leakage_note(split, corpus.groups)
    if notify is not None:
        notify(f"split: {split.name} ({why})")
        if leakage:
            notify(leakage)
    return _Prepared(fr, corpus, labels, split, excluded, why, leakage)


def _require_classes(corpus: Corpus) -> None:
    """Training needs at least two genres with clips: say so before any work is done."""
    if len(corpus.classes) < 2:
        raise DatasetError(f"{corpus.name}: training needs clips of at least two classes, found "
                           f"{len(corpus.classes)} ({', '.join(corpus.classes) or 'none'})")


# -- training -------------------------------------------------------------------------------
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
    classifier: object = None  # the saved bundle, loaded (graham.predict.GenreClassifier)
    excluded: list = field(default_factory=list)  # Skipped: clips left out by --exclude, with the reason
    protocol_why: str = ""  # why the split's protocol was chosen, in words
    leakage: str | None = None  # the line saying how many groups the split cuts, when it cuts any


def train_model(
    dataset: str,
    out: str | os.PathLike,
    *,
    clips: str | None = None,
    protocol: str = "auto",
    seed: int = 0,
    fraction: float = 1.0,
    test_size: float = 0.3,
    siamese: SiameseConfig | None = None,
    gnn: GNNConfig | None = None,
    gnn_train: GNNTrainConfig | None = None,
    cache: str | os.PathLike | None = None,
    device: str | None = None,
    resume: bool = False,
    progress: bool = True,
    split_lists: dict | None = None,
    methods: tuple[str, ...] = DEFAULT_METHODS,
    exclude: dict[str, str] | None = None,
    notify=None,
) -> TrainOutcome:
    """The whole path on one split: features, Siamese network (checkpoints in ``out/siamese``),
    embeddings, GrahAM GNN (transductive), the other ``methods``, test metrics
    (``out/metrics.json``) and a bundle (``out/bundle``) whose reference nodes are the training
    clips. The bundle is then scored as it predicts (inductive: each test clip cut into
    windows, each window a new node attached to the training clips, probabilities averaged):
    ``metrics["shipped_model"]``.

    ``protocol`` ``auto`` splits a corpus with groups of several clips by group (70:30, no group
    on both sides) and any other at random (the paper's split); ``notify(line)`` hears the
    split and, when it puts clips of one group on both sides, the leakage line."""
    if protocol == "kfold":
        raise ParameterError("train uses one split: protocol auto, random (paper), grouped or given (k-fold: graham "
                             "experiment)")
    if siamese is not None and siamese.cross_fit and siamese.cross_fit_others != "main":
        raise ParameterError("a bundle serves new clips the main network's embedding, so train needs cross_fit_others "
                             "main; mean is for experiment")
    from .evaluate.methods import METHODS

    unknown = [m for m in methods if m not in METHODS]
    if unknown:  # before any work, not after the Siamese network has trained
        raise ParameterError(f"unknown method {', '.join(map(repr, unknown))}; known: {', '.join(METHODS)}")
    from .devices import resolve_device

    resolve_device(device)  # a device this torch cannot use: say so before any work
    out = writable_folder(out)
    t0 = time.perf_counter()
    prep = _prepare(dataset, cache=cache, clips=clips, progress=progress, split_lists=split_lists, protocol=protocol,
                    seed=seed, test_size=test_size, exclude=exclude, notify=notify)
    fr, corpus, labels, mels, split = prep.run, prep.corpus, prep.labels, prep.mels, prep.split
    assert split is not None
    classes = corpus.classes
    labelled = labelled_subset(split.train, labels, fraction, seed=seed)
    siamese = SiameseConfig.from_dict({**(siamese or SiameseConfig()).to_dict(), "seed": seed})
    gnn = gnn or GNNConfig()
    gnn_train = gnn_train or GNNTrainConfig(seed=seed)
    t_feat = time.perf_counter() - t0
    data = RunData(mels, labels, classes, split, labelled, siamese, gnn, gnn_train, seed=siamese.seed, device=device,
                   progress=progress, siamese_out=out / "siamese", resume=resume, groups=np.asarray(corpus.groups))
    metrics, emb, hidden, models = score_run(data, ("grahams_gnn",) + tuple(m for m in methods if m != "grahams_gnn"))
    t_train = time.perf_counter() - t0 - t_feat
    save_checkpoint(out / "embeddings.safetensors", {"embeddings": torch.from_numpy(emb), "labels": torch.from_numpy(labels)},
                    {"clip_ids": corpus.clip_ids, "classes": classes})
    g = models["grahams_gnn"]
    ref_labels = np.full(len(labels), -1, dtype=np.int64)  # -1: a training clip whose label was not used
    ref_labels[labelled] = labels[labelled]
    # the training clips' node features as the run's GNN read them: the bundle serves new clips the same recipe
    stats = data.node_features[split.train, emb.shape[1]:] if gnn.band_statistics else None
    save_bundle(out / "bundle", mel=fr.features.config, siamese_config=siamese, gnn_config=gnn, classes=classes,
                siamese=models["siamese"].model, gnn=g.model, mean=g.mean, scale=g.scale,
                reference=emb[split.train], reference_labels=ref_labels[split.train], reference_stats=stats,
                reference_ids=[corpus.clip_ids[i] for i in split.train],
                info={"dataset": dataset, "split": split.name, "labelled_fraction": fraction,
                      "gnn_training": asdict(gnn_train)})  # graham extend refits the GNN with this recipe
    from .predict import load

    shipped = load(out / "bundle", device=device)  # the bundle as saved: scored, then explained in the report
    metrics["shipped_model"] = score_classifier(shipped, take(mels, split.test), labels[split.test], classes)
    outcome = TrainOutcome(
        out=out, dataset=dataset, corpus=corpus, classes=classes, labels=labels, split_name=split.name,
        train_idx=split.train, test_idx=split.test, labelled_idx=labelled, metrics=metrics, embeddings=emb,
        hidden=hidden, models=models, skipped=fr.skipped, mel=fr.features.config, siamese_config=siamese,
        gnn_config=gnn, timings={"features_s": round(t_feat, 1), "training_s": round(t_train, 1),
                                 "siamese_s": round(models["siamese"].seconds, 1), "gnn_s": round(g.seconds, 1),
                                 **({"cross_fit_s": round(data.cross_fit.seconds, 1)} if data.cross_fit else {})},
        gnn_train=gnn_train, classifier=shipped, excluded=prep.excluded, protocol_why=prep.protocol_why,
        leakage=prep.leakage)
    write_json(out / "metrics.json", _metrics_doc(outcome, gnn_train))
    return outcome


def score_classifier(model, mels, labels, classes: list[str]) -> dict:
    """Metrics of a loaded bundle (:class:`graham.predict.GenreClassifier`) predicting clips as
    ``graham predict`` does (inductive, windowed, probabilities averaged over windows), from
    their log-mels."""
    pred = [classes.index(model.predict_mel(np.asarray(m), top_k=1).label) for m in mels]
    return {**classification_metrics(np.asarray(labels), np.asarray(pred), list(classes)), "predicted": pred}


def report_run(outcome: TrainOutcome, *,
               experiment: ExperimentResult | list[ExperimentResult] | None = None, explain_per_genre: int = 1,
               progress: bool = True) -> Path:
    """Figures and ``report.html`` of a training run (Grad-CAM++ through its bundle)."""
    from .report.run_report import write_run_report

    classifier = outcome.classifier
    if classifier is None:  # an outcome made elsewhere: its bundle from disk
        from .predict import load

        classifier = load(outcome.out / "bundle")
    return write_run_report(outcome, classifier, experiment=experiment, explain_per_genre=explain_per_genre,
                            progress=progress)


def _metrics_doc(o: TrainOutcome, gnn_train: GNNTrainConfig) -> dict:
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
                     "gnn_training": asdict(gnn_train)},
        "timings": o.timings, "skipped": [str(s) for s in o.skipped],
        "excluded": [{"path": s.path, "reason": s.reason} for s in o.excluded],
        "siamese_history": o.models["siamese"].history,
    }


def train_siamese_run(dataset: str, out: str | os.PathLike, *, clips: str | None = None, config: SiameseConfig | None = None,
                      protocol: str = "auto", seed: int = 0, test_size: float = 0.3, cache=None, device=None,
                      resume: bool = False, progress: bool = True, split_lists: dict | None = None, notify=None):
    """Train only the Siamese network, on the training part of a split (``protocol`` as in
    :func:`train_model`); checkpoints in ``out``."""
    if protocol == "kfold":
        raise ParameterError("train-siamese uses one split: protocol auto, random (paper), grouped or given (k-fold: "
                             "graham experiment)")
    from .devices import resolve_device
    from .train.distributed import init_from_env

    init_from_env(resolve_device(device))  # under torchrun: the group training needs (nccl on GPUs), before extraction
    prep = _prepare(dataset, cache=cache, clips=clips, progress=progress, split_lists=split_lists, protocol=protocol,
                    seed=seed, test_size=test_size, notify=notify)
    corpus, labels, mels, split = prep.corpus, prep.labels, prep.mels, prep.split
    assert split is not None
    config = config or SiameseConfig(seed=seed)
    res = train_siamese(take(mels, split.train), labels[split.train], config, out=out, resume=resume,
                        groups=np.asarray(corpus.groups)[split.train], device=device, progress=progress)
    write_json(Path(out) / "split.json", {"split": split.name, "chosen": prep.protocol_why, "leakage": prep.leakage,
                                          "train": [corpus.clip_ids[i] for i in split.train],
                                          "test": [corpus.clip_ids[i] for i in split.test]})
    return res, corpus, split


def embed_dataset(dataset: str, checkpoint: str | os.PathLike, out: str | os.PathLike, *, clips: str | None = None,
                  cache=None, device=None, progress: bool = True, workers: int = 2) -> tuple[np.ndarray, Corpus]:
    """Embed every clip with a trained Siamese checkpoint (``best``/``last.safetensors``) or a
    bundle folder; writes ``out`` (safetensors: embeddings, labels; clip ids in its metadata).

    Embeddings are kept in shards beside the log-mels, so a killed run resumes; under
    ``torchrun`` each process extracts and embeds its share of the shards (gloo on the CPU,
    nccl on GPUs) and process 0 writes ``out``."""
    from .bundle import load_bundle
    from .devices import resolve_device
    from .train.distributed import init_from_env
    from .train.embed_store import embed_features
    from .train.siamese import load_siamese

    dev = init_from_env(resolve_device(device), timeout_s=_STORE_TIMEOUT_S)
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        b = load_bundle(checkpoint)
        model, crop = b.siamese.to(dev).eval(), b.siamese_config.crop_frames
    else:
        model, config = load_siamese(checkpoint, device=dev, return_config=True)
        crop = config.crop_frames
    fr = dataset_features(dataset, cache=cache, clips=clips, progress=progress, workers=workers)
    corpus = fr.features.corpus
    emb = embed_features(model, fr.features, crop_frames=crop, device=dev, progress=progress)
    if world()[0] == 0:
        save_checkpoint(out, {"embeddings": torch.from_numpy(emb), "labels": torch.tensor(corpus.targets())},
                        {"clip_ids": corpus.clip_ids, "classes": corpus.classes,
                         "method": f"mean over windows of {crop} frames, hop {crop // 2}"})
    return emb, corpus


# -- experiment -----------------------------------------------------------------------------
def _clip_list_digest(clip_ids: list[str]) -> dict:
    """What a resume compares of the clip list: its length and a hash of it in order."""
    import hashlib

    h = hashlib.sha256("\0".join(clip_ids).encode("utf-8", "surrogatepass")).hexdigest()
    return {"count": len(clip_ids), "sha256": h}


def run_experiment(dataset: str, out: str | os.PathLike, config: ProtocolConfig, *, clips: str | None = None,
                   siamese: SiameseConfig | None = None, gnn: GNNConfig | None = None,
                   gnn_train: GNNTrainConfig | None = None, cache=None, device=None,
                   progress: bool = True, resume: bool = False, split_lists: dict | None = None,
                   known_runs: dict[str, RunResult] | None = None,
                   exclude: dict[str, str] | None = None, notify=None) -> ExperimentResult:
    """The Table 1 protocol; writes ``table.md``, ``table.csv``, ``results.json`` and one
    confusion-matrix PNG per run and method under ``out``. Each run's result is saved as soon
    as it is done (``out/runs/*.json``); ``resume`` reuses those of an interrupted experiment
    with the same settings. ``known_runs`` (by :func:`run_key`) are results the caller already
    has for these very settings (the demo's training run), used instead of running again.
    ``config.protocol`` ``auto`` is grouped k-fold on a corpus with groups of several clips, else
    the paper's random split; ``notify(line)`` hears the choice and any leakage first."""
    import json

    from .report.experiment_figures import write_experiment_figures

    out = writable_folder(out)  # a file, or a read-only place: say so before any work
    prep = _prepare(dataset, cache=cache, clips=clips, progress=progress, split_lists=split_lists, exclude=exclude)
    fr, corpus = prep.run, prep.corpus
    siamese, gnn, gnn_train = siamese or SiameseConfig(), gnn or GNNConfig(), gnn_train or GNNTrainConfig()
    settings = {"dataset": dataset, "protocol": asdict(config), "siamese": siamese.to_dict(),
                "gnn": gnn.to_dict(), "gnn_train": asdict(gnn_train),
                "clips": _clip_list_digest(corpus.clip_ids)}  # not the list: a million ids are many MB
    settings = json.loads(json.dumps(settings))
    done = {}
    runs_dir = out / "runs"
    if resume and (runs_dir / "settings.json").exists():
        changes = setting_changes(json.loads((runs_dir / "settings.json").read_text()), settings)
        if changes:
            raise ParameterError(f"{runs_dir} holds runs with other settings ({'; '.join(changes[:5])}); resume with "
                                 "the same settings, or use another --out")
        for f in runs_dir.glob("seed*.json"):
            done[f.stem] = RunResult(**json.loads(f.read_text()))
    for key, run in (known_runs or {}).items():
        done[key] = run
        write_json(runs_dir / f"{key}.json", asdict(run))
    write_json(runs_dir / "settings.json", settings)
    res = run_protocol(fr.features.mels, corpus.targets(), corpus.classes, config, groups=corpus.groups,
                       splits=[c.split for c in corpus], siamese=siamese, gnn=gnn, gnn_train=gnn_train, device=device,
                       progress=progress, done=done, notify=notify,
                       on_run=lambda key, run: write_json(runs_dir / f"{key}.json", asdict(run)))
    res.skipped = list(fr.skipped)
    res.excluded = list(prep.excluded)
    header = (f"# {corpus.name}\n\nProtocol: {res.describe()}\n\nWhy this protocol: {res.protocol_why}.\n\n"
              f"GrahAM: {gnn.describe()}.\n\n")
    paired = res.paired_markdown()
    write_text(out / "table.md", header + res.markdown() + "\n" + (f"\n{paired}\n" if paired else ""))
    write_text(out / "table.csv", res.csv())
    doc = res.to_dict()
    doc.update({"dataset": dataset, "corpus": corpus.name, "code": code_version(), "threads": torch.get_num_threads(),
                "skipped": [str(s) for s in fr.skipped],
                "excluded": [{"path": s.path, "reason": s.reason} for s in prep.excluded]})
    write_json(out / "results.json", doc)
    write_experiment_figures(res, out, title=f"{corpus.name}: test balanced accuracy")
    return res


def _split_gap(random_exp: ExperimentResult, grouped_exp: ExperimentResult) -> str:
    """The demo's words on why its two tables differ: GrahAM at 100 % labels on the paper's
    random split against the grouped one, and the groups the random split cut."""
    def at_full(exp):
        rows = [r for r in exp.table() if r["fraction"] == 1.0 and r["method"] == METHOD_NAMES["grahams_gnn"]]
        return 100 * rows[0]["balanced_accuracy_mean"] if rows else float("nan")

    cut = [r.groups_cut for r in random_exp.runs]
    return (f"GrahAM at 100 % labels: {at_full(random_exp):.1f} % balanced on the paper's random split, "
            f"{at_full(grouped_exp):.1f} % on the grouped one. The random split put clips of "
            f"{max(cut) if cut else 0} groups (artists) on both sides, so it scores clips of artists the model trained on; "
            "the grouped split is the honest figure, and what graham train and experiment use by default on a "
            "corpus with groups.")


# -- audit ----------------------------------------------------------------------------------
def run_audit(dataset: str, out: str | os.PathLike, *, clips: str | None = None, cache=None, seed: int = 0,
              folds: int = 5, split_lists: dict | None = None, progress: bool = True):
    """Audit a data set (:mod:`graham.audit`): writes ``out/audit.json``, the CSVs and
    ``out/audit.html``; returns (the :class:`~graham.audit.core.AuditResult`, the page's path)."""
    from .audit.core import audit_corpus
    from .audit.page import write_audit

    out = writable_folder(out)
    prep = _prepare(dataset, cache=cache, clips=clips, progress=progress, split_lists=split_lists)
    cfg = prep.run.features.config
    result = audit_corpus(prep.corpus, prep.mels, frames_per_second=cfg.sr / cfg.hop_length, seed=seed, folds=folds,
                          progress=progress)
    return result, write_audit(result, prep.mels, out, dataset=dataset)


# -- demo -----------------------------------------------------------------------------------
def run_demo(out: str | os.PathLike, *, dataset: str = "synthetic:artists", seeds: tuple[int, ...] = (0,),
             fractions: tuple[float, ...] = (0.3, 1.0), explain_per_genre: int = 1,
             progress: bool = True) -> dict:
    """The newcomer's first run on the built-in synthetic corpus: features, Siamese network,
    GNN and every baseline on the paper's random 70:30 split; the Table 1 protocol on that
    split and on a grouped split (no artist on both sides, at 100 % labels: the leakage the
    paper's protocol hides); Grad-CAM++ and t-SNE; the report ``out/report.html``. Returns the
    headline figures."""
    out = Path(out)
    t0 = time.perf_counter()
    outcome = train_model(dataset, out, protocol="random", progress=progress)
    # The training run is the random split's run of seed 0 at 100 %: reuse it, do not train it twice.
    known = {}
    if 0 in seeds and 1.0 in fractions:
        known[run_key(0, outcome.split_name, 1.0)] = RunResult(
            0, outcome.split_name, 1.0, len(outcome.labelled_idx), len(outcome.test_idx),
            {m: v for m, v in outcome.metrics.items() if m != "shipped_model"}, outcome.timings.get("training_s", 0.0))
    random_exp = run_experiment(dataset, out / "experiment",
                                ProtocolConfig(protocol="random", seeds=seeds, fractions=fractions),
                                progress=progress, known_runs=known)
    grouped_exp = run_experiment(dataset, out / "experiment-grouped",
                                 ProtocolConfig(protocol="grouped", seeds=seeds, fractions=(1.0,)), progress=progress)
    report = report_run(outcome, experiment=[random_exp, grouped_exp], explain_per_genre=explain_per_genre,
                        progress=progress)
    seconds = time.perf_counter() - t0
    summary = {"report": str(report), "seconds": round(seconds, 1),
               "accuracy": {result_title(m): v["accuracy"] for m, v in outcome.metrics.items()},
               "balanced_accuracy": {result_title(m): v["balanced_accuracy"] for m, v in outcome.metrics.items()},
               "macro_f1": {result_title(m): v["macro_f1"] for m, v in outcome.metrics.items()},
               "split": outcome.split_name, "corpus": outcome.corpus.name, "leakage": outcome.leakage,
               "table": random_exp.markdown(), "table_grouped": grouped_exp.markdown(),
               "gap": _split_gap(random_exp, grouped_exp)}
    write_json(out / "summary.json", summary)
    return summary
