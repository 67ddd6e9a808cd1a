"""The paper's Table 1 protocol and its honest variants.

For every seed and split: for every labelled fraction of the training clips, the Siamese
network is trained on the labelled training clips only, every clip is embedded, and every
method of :data:`graham.evaluate.methods.METHODS` (GrahAM's GNN over the graph of clips, loss on
labelled nodes only; Random Forest, 2-layer NN and label spreading on the same embeddings; a
supervised CNN and a log-mel floor on the spectrograms) is scored on the test clips.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Sequence

import numpy as np

from ..errors import ParameterError
from ..names import MODES, PROTOCOL_CHOICES, PROTOCOLS
from ..nn.gnn import GNNConfig
from ..presets import GNNTrainConfig, SiameseConfig
from .methods import DEFAULT_METHODS, METHOD_NAMES, METHODS, RunData
from .metrics import METRIC_KEYS, METRIC_TITLES, classification_metrics, format_pm, run_metric
from .splits import Split, choose_protocol, groups_cut, has_groups, labelled_subset, leakage_note, make_splits

__all__ = ["ProtocolConfig", "RunResult", "ExperimentResult", "PlannedRun", "plan_runs", "run_data", "score_run",
           "run_protocol", "run_key", "METHOD_NAMES"]

log = logging.getLogger(__name__)


@dataclass
class ProtocolConfig:
    """What to run: split protocol, seeds, labelled fractions, and GNN mode. ``protocol``
    ``auto`` is grouped k-fold on a corpus with groups of several clips and the paper's random
    split on any other (:func:`~graham.evaluate.splits.choose_protocol`); ``paper`` is ``random``."""

    protocol: str = "auto"  # auto | paper | random | grouped | kfold | given
    seeds: tuple[int, ...] = (0, 1, 2)
    fractions: tuple[float, ...] = (0.3, 0.5, 1.0)
    test_size: float = 0.3
    k: int = 5
    mode: str = "transductive"  # or inductive: test clips are not in the graph while training
    methods: tuple[str, ...] = DEFAULT_METHODS

    def __post_init__(self) -> None:
        self.seeds, self.fractions, self.methods = tuple(self.seeds), tuple(self.fractions), tuple(self.methods)
        unknown = set(self.methods) - set(METHODS)
        if unknown or not self.methods:
            raise ParameterError(f"unknown methods {sorted(unknown)}; known: {', '.join(METHODS)}")
        if self.protocol not in PROTOCOL_CHOICES:
            raise ParameterError(f"protocol must be one of {', '.join(PROTOCOL_CHOICES)}, got {self.protocol!r}")
        if self.mode not in MODES:
            raise ParameterError(f"mode must be transductive or inductive, got {self.mode!r}")
        if not self.seeds or not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            raise ParameterError("need at least one seed and fractions in (0, 1]")
        if not 0 < self.test_size < 1:
            raise ParameterError(f"the test fraction must lie between 0 and 1, got {self.test_size}")
        if self.protocol == "kfold" and self.k < 2:  # k means nothing to the other protocols
            raise ParameterError(f"--k {self.k}: k-fold cross-validation needs at least 2 folds")

    def describe(self, grouped: bool = False) -> str:
        split = {"auto": "chosen by the corpus: grouped k-fold where groups hold several clips, else the paper's "
                         "random split",
                 "paper": f"the paper's stratified random {1 - self.test_size:.0%}:{self.test_size:.0%} split",
                 "random": f"stratified random {1 - self.test_size:.0%}:{self.test_size:.0%} split of clips "
                           "(the paper's; clips of one artist may sit on both sides)",
                 "grouped": "stratified grouped split: no group (artist/album/track/video) on both sides",
                 "kfold": (f"stratified grouped {self.k}-fold cross-validation (no group in two folds)" if grouped
                           else f"stratified {self.k}-fold cross-validation"),
                 "given": "the data set's own split lists (train+valid : test)"}[self.protocol]
        mode = ("transductive: test clips are unlabelled nodes of the graph while the GNN trains (as in the paper)"
                if self.mode == "transductive" else
                "inductive: the GNN trains on the training clips alone; test clips join afterwards as new nodes")
        return (f"{split}; labelled fractions {', '.join(f'{f:.0%}' for f in self.fractions)} of the training clips "
                f"(stratified, nested); seeds {', '.join(map(str, self.seeds))}; the Siamese network trains on the "
                f"labelled training clips only; {mode}; every method trains on the labelled clips alone: "
                + "; ".join(f"{METHODS[m].title}: {METHODS[m].about}" for m in self.methods) + ".")


@dataclass
class RunResult:
    seed: int
    split: str
    fraction: float
    n_labelled: int
    n_test: int
    metrics: dict  # method -> classification_metrics
    seconds: float
    groups_cut: int = 0  # groups with clips on both sides of the split (leakage; 0 for a grouped split)


@dataclass
class ExperimentResult:
    config: ProtocolConfig
    classes: list[str]
    runs: list[RunResult] = field(default_factory=list)
    # Kept from the last run, for figures: embeddings, GNN hidden features, labels, test indices.
    last_embeddings: np.ndarray | None = None
    last_hidden: np.ndarray | None = None
    last_labels: np.ndarray | None = None
    last_test: np.ndarray | None = None
    grouped: bool = False  # the corpus has groups shared by several clips (k-fold keeps them apart)
    skipped: list = field(default_factory=list)  # files of the data set left out (unreadable), by name
    excluded: list = field(default_factory=list)  # clips left out by --exclude, with the reason
    protocol_why: str = ""  # why the protocol was chosen, in words
    leakage: str | None = None  # a line when some split put clips of one group on both sides

    def describe(self) -> str:
        """The protocol in words, saying "grouped" whenever groups kept clips apart, and the
        leakage line where a split cut groups."""
        return self.config.describe(grouped=self.grouped) + (f" {self.leakage}." if self.leakage else "")

    def table(self) -> list[dict]:
        """Mean and standard deviation over runs per (fraction, method), for every metric of
        :data:`~graham.evaluate.metrics.METRIC_KEYS` (``accuracy_mean``, ``accuracy_std``, ...)."""
        rows = []
        for frac in self.config.fractions:
            for m in self.config.methods:
                runs = [r.metrics[m] for r in self.runs if r.fraction == frac]
                if not runs:
                    continue
                row = {"fraction": frac, "method": METHOD_NAMES[m], "runs": len(runs)}
                for key in METRIC_KEYS:
                    vals = [run_metric(met, key) for met in runs]
                    row.update({f"{key}_mean": float(np.mean(vals)), f"{key}_std": float(np.std(vals))})
                rows.append(row)
        return rows

    def markdown(self) -> str:
        """Table 1 in Markdown: accuracy, balanced accuracy and macro-F1 in %, with the spread
        over runs where there is more than one run."""
        titles = " | ".join(f"{METRIC_TITLES[k]} (%)" for k in METRIC_KEYS)
        lines = [f"| labelled | method | {titles} | runs |", "| --- | --- |" + " --- |" * len(METRIC_KEYS) + " --- |"]
        for r in self.table():
            cells = " | ".join(format_pm(r[f"{k}_mean"], r[f"{k}_std"], r["runs"]) for k in METRIC_KEYS)
            lines.append(f"| {r['fraction']:.0%} | {r['method']} | {cells} | {r['runs']} |")
        return "\n".join(lines)

    def paired(self, reference: str = "grahams_gnn") -> list[dict]:
        """``reference`` against every other method, run by run (same seed, split and
        fraction): the mean difference of balanced accuracy in points, its standard error, and
        wins / ties / losses of ``reference``. Folds differ far more than methods do; the paired
        difference shows what the spread of the table hides."""
        rows = []
        for frac in self.config.fractions:
            runs = [r for r in self.runs if r.fraction == frac and reference in r.metrics]
            for m in self.config.methods:
                if m == reference:
                    continue
                d = np.array([100 * (run_metric(r.metrics[reference], "balanced_accuracy")
                                     - run_metric(r.metrics[m], "balanced_accuracy")) for r in runs if m in r.metrics])
                if len(d):
                    rows.append({"fraction": frac, "method": METHOD_NAMES[m], "runs": len(d), "mean": float(d.mean()),
                                 "sem": float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None,
                                 "wins": int((d > 1e-9).sum()), "ties": int((abs(d) <= 1e-9).sum()),
                                 "losses": int((d < -1e-9).sum())})
        return rows

    def paired_markdown(self, reference: str = "grahams_gnn") -> str:
        """:meth:`paired` in Markdown; empty when ``reference`` did not run."""
        rows = self.paired(reference)
        if not rows:
            return ""
        lines = [f"{METHOD_NAMES[reference]} minus each method, balanced accuracy points, run by run (mean ± standard "
                 f"error; {METHOD_NAMES[reference]}'s wins / ties / losses):", "",
                 "| labelled | method | paired difference | wins / ties / losses | runs |", "| --- | --- | --- | --- | --- |"]
        for r in rows:
            sem = f" ± {r['sem']:.1f}" if r["sem"] is not None else ""
            lines.append(f"| {r['fraction']:.0%} | {r['method']} | {r['mean']:+.1f}{sem} | "
                         f"{r['wins']} / {r['ties']} / {r['losses']} | {r['runs']} |")
        return "\n".join(lines)

    def csv(self) -> str:
        keys = ["fraction", "method", "runs"] + [f"{k}_{s}" for k in METRIC_KEYS for s in ("mean", "std")]
        return ",".join(keys) + "\n" + "".join(",".join(str(r[k]) for k in keys) + "\n" for r in self.table())

    def to_dict(self) -> dict:
        return {"protocol": self.describe(), "protocol_chosen": self.protocol_why, "leakage": self.leakage,
                "config": asdict(self.config), "classes": self.classes,
                "table": self.table(), "paired": self.paired(), "runs": [asdict(r) for r in self.runs]}


def run_key(seed: int, split_name: str, fraction: float) -> str:
    """A file-name-safe key of one run of the protocol."""
    import hashlib

    return f"seed{seed}-frac{int(round(fraction * 1000)):04d}-{hashlib.sha1(split_name.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class PlannedRun:
    """One run of the protocol: a seed, one of its splits and a labelled fraction."""

    seed: int
    split: Split
    fraction: float

    @property
    def key(self) -> str:
        return run_key(self.seed, self.split.name, self.fraction)


def plan_runs(config: ProtocolConfig, labels, *, groups=None, splits=None, classes=None) -> list[PlannedRun]:
    """Every run of ``config`` (whose protocol is resolved: not ``auto`` or ``paper``), in the
    order the protocol runs them: seeds, then splits, then fractions."""
    if config.protocol not in PROTOCOLS:
        raise ParameterError(f"plan_runs needs a resolved protocol ({', '.join(PROTOCOLS)}), got {config.protocol!r}")
    return [PlannedRun(seed, split, frac) for seed in config.seeds
            for split in make_splits(config.protocol, np.asarray(labels), seed=seed, groups=groups, splits=splits,
                                     test_size=config.test_size, k=config.k, names=classes)
            for frac in config.fractions]


def run_data(mels: Sequence[np.ndarray], labels, classes: list[str], planned: PlannedRun, *,
             siamese: SiameseConfig | None = None, gnn: GNNConfig | None = None,
             gnn_train: GNNTrainConfig | None = None, mode: str = "transductive", device: str | None = None,
             progress: bool = False, groups=None) -> RunData:
    """What one planned run starts from, as every run of the protocol makes it: the stratified
    labelled ``fraction`` of the split's training clips, and the settings seeded with the run's
    seed (Siamese network, GNN training). The Siamese network trains on first use; ``groups``
    (every clip's) keep its validation clips apart from its training clips."""
    seed = planned.seed
    labelled = labelled_subset(planned.split.train, labels, planned.fraction, seed=seed)
    sia_cfg = SiameseConfig.from_dict({**(siamese or SiameseConfig()).to_dict(), "seed": seed})
    g_train = GNNTrainConfig(**{**asdict(gnn_train or GNNTrainConfig()), "seed": seed})
    return RunData(mels, np.asarray(labels), list(classes), planned.split, labelled, sia_cfg, gnn or GNNConfig(), g_train,
                   mode=mode, seed=seed, device=device, progress=progress,
                   groups=None if groups is None else np.asarray(groups))


def score_run(data: RunData, methods: Sequence[str] = DEFAULT_METHODS):
    """Every method in ``methods`` fits on ``data``'s labelled training clips and predicts its
    test clips. Returns (metrics by method, each with the ``predicted`` class of every test
    clip; Siamese embeddings of all clips or None; GNN hidden features of all clips or None; the
    fitted models by method plus ``siamese``)."""
    metrics, models, hidden = {}, {}, None
    for key in methods:
        out = METHODS[key].run(data)
        metrics[key] = classification_metrics(data.labels[data.split.test], out.pred, list(data.classes))
        metrics[key]["predicted"] = [int(p) for p in out.pred]  # per test clip, in split.test order
        models[key] = out.model
        hidden = out.extras.get("hidden", hidden)
    uses_siamese = any(METHODS[m].uses_siamese for m in methods)
    if uses_siamese:
        models["siamese"] = data.siamese
    return metrics, (data.embeddings if uses_siamese else None), hidden, models


def run_protocol(mels: Sequence[np.ndarray], labels, classes: list[str], config: ProtocolConfig, *,
                 groups=None, splits=None, siamese: SiameseConfig | None = None, gnn: GNNConfig | None = None,
                 gnn_train: GNNTrainConfig | None = None, device: str | None = None,
                 progress: bool = True, done: dict[str, RunResult] | None = None, on_run=None,
                 notify=None) -> ExperimentResult:
    """Run the protocol over all seeds, splits and fractions; ``config.protocol`` ``auto`` and
    ``paper`` are resolved by ``groups`` first (the result's config holds the protocol run).

    ``done`` maps :func:`run_key` to results already computed (they are reused, not rerun);
    ``on_run(key, result)`` is called after every new run, e.g. to save it at once;
    ``notify(line)`` hears the protocol and why, and the leakage line, before the first run."""
    labels = np.asarray(labels)
    chosen, why = choose_protocol(config.protocol, groups, grouped="kfold")
    config = replace(config, protocol=chosen)
    result = ExperimentResult(config, list(classes), protocol_why=why)
    result.grouped = has_groups(groups)
    plan = plan_runs(config, labels, groups=groups, splits=splits, classes=classes)
    result.leakage = leakage_note(list({p.split.name: p.split for p in plan}.values()), groups)
    if notify is not None:
        notify(f"protocol: {chosen} ({why})")
        if result.leakage:
            notify(result.leakage)
    it = plan
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(plan, desc="experiment", unit="run")
    for p in it:
        if done and p.key in done:
            result.runs.append(done[p.key])
            continue
        t0 = time.perf_counter()
        data = run_data(mels, labels, classes, p, siamese=siamese, gnn=gnn, gnn_train=gnn_train, mode=config.mode,
                        device=device, progress=progress, groups=groups)
        metrics, emb, hidden, _ = score_run(data, config.methods)
        run = RunResult(p.seed, p.split.name, p.fraction, len(data.labelled), len(p.split.test), metrics,
                        time.perf_counter() - t0, groups_cut(p.split, groups) if groups is not None else 0)
        result.runs.append(run)
        if on_run is not None:
            on_run(p.key, run)
        log.info("run seed=%d frac=%.2f: %s", p.seed, p.fraction, {m: round(v["accuracy"], 3) for m, v in metrics.items()})
        result.last_embeddings, result.last_hidden, result.last_labels = emb, hidden, labels
        result.last_test = p.split.test
    return result
