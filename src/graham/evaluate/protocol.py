"""The paper's Table 1 protocol and its honest variants.

For every seed and split: for every labelled fraction of the training clips, the Siamese
network is trained on the labelled training clips only, every clip is embedded, and GrahAM
(the GNN over the complete graph of all clips, loss on labelled nodes only), a Random Forest
and a 2-layer network (both on the labelled embeddings) are scored on the test clips.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..nn.gnn import GNNConfig
from ..train.gnn import GNNTrainConfig, standardise_features, train_gnn
from ..train.siamese import SiameseConfig, embed_clips, train_siamese
from .baselines import BASELINES, fit_baseline
from .metrics import classification_metrics
from .splits import Split, labelled_subset, make_splits

__all__ = ["ProtocolConfig", "RunResult", "ExperimentResult", "run_protocol", "evaluate_split", "run_key"]

log = logging.getLogger(__name__)

METHODS = ("grahams_gnn",) + BASELINES
METHOD_NAMES = {"grahams_gnn": "GrahAM (GNN)", "random_forest": "Random Forest", "mlp_2layer": "2-layer NN"}


@dataclass
class ProtocolConfig:
    """What to run: split protocol, seeds, labelled fractions, and GNN mode."""

    protocol: str = "random"  # random | grouped | kfold | given
    seeds: tuple[int, ...] = (0, 1, 2)
    fractions: tuple[float, ...] = (0.3, 0.5, 1.0)
    test_size: float = 0.3
    k: int = 5
    mode: str = "transductive"  # or inductive: test clips are not in the graph while training

    def describe(self) -> str:
        split = {"random": f"stratified random {1 - self.test_size:.0%}:{self.test_size:.0%} split of clips "
                           "(the paper's; clips of one artist may sit on both sides)",
                 "grouped": "stratified grouped split: no group (artist/album/track/video) on both sides",
                 "kfold": f"stratified {self.k}-fold cross-validation",
                 "given": "the data set's own split lists (train+valid : test)"}[self.protocol]
        mode = ("transductive: test clips are unlabelled nodes of the graph while the GNN trains (as in the paper)"
                if self.mode == "transductive" else
                "inductive: the GNN trains on the training clips alone; test clips join afterwards as new nodes")
        return (f"{split}; labelled fractions {', '.join(f'{f:.0%}' for f in self.fractions)} of the training clips "
                f"(stratified, nested); seeds {', '.join(map(str, self.seeds))}; the Siamese network trains on the "
                f"labelled training clips only; {mode}; Random Forest and 2-layer NN on the same embeddings, "
                f"trained on the labelled clips.")


@dataclass
class RunResult:
    seed: int
    split: str
    fraction: float
    n_labelled: int
    n_test: int
    metrics: dict  # method -> classification_metrics
    seconds: float


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

    def table(self) -> list[dict]:
        """Mean and standard deviation over runs per (fraction, method)."""
        rows = []
        for frac in self.config.fractions:
            for m in METHODS:
                acc = [r.metrics[m]["accuracy"] for r in self.runs if r.fraction == frac]
                f1 = [r.metrics[m]["macro_f1"] for r in self.runs if r.fraction == frac]
                if acc:
                    rows.append({"fraction": frac, "method": METHOD_NAMES[m], "runs": len(acc),
                                 "accuracy_mean": float(np.mean(acc)), "accuracy_std": float(np.std(acc)),
                                 "macro_f1_mean": float(np.mean(f1)), "macro_f1_std": float(np.std(f1))})
        return rows

    def markdown(self) -> str:
        lines = ["| labelled | method | accuracy (%) | macro-F1 (%) | runs |", "| --- | --- | --- | --- | --- |"]
        for r in self.table():
            lines.append(f"| {r['fraction']:.0%} | {r['method']} | {100 * r['accuracy_mean']:.1f} ± "
                         f"{100 * r['accuracy_std']:.1f} | {100 * r['macro_f1_mean']:.1f} ± {100 * r['macro_f1_std']:.1f} "
                         f"| {r['runs']} |")
        return "\n".join(lines)

    def csv(self) -> str:
        keys = ["fraction", "method", "runs", "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std"]
        return ",".join(keys) + "\n" + "".join(",".join(str(r[k]) for k in keys) + "\n" for r in self.table())

    def to_dict(self) -> dict:
        return {"protocol": self.config.describe(), "config": asdict(self.config), "classes": self.classes,
                "table": self.table(), "runs": [asdict(r) for r in self.runs]}


def run_key(seed: int, split_name: str, fraction: float) -> str:
    """A file-name-safe key of one run of the protocol."""
    import hashlib

    return f"seed{seed}-frac{int(round(fraction * 1000)):04d}-{hashlib.sha1(split_name.encode()).hexdigest()[:8]}"


def evaluate_split(mels: Sequence[np.ndarray], labels: np.ndarray, split: Split, labelled: np.ndarray,
                   num_classes: int, classes: list[str], *, siamese: SiameseConfig, gnn: GNNConfig,
                   gnn_train: GNNTrainConfig, mode: str = "transductive", device: str | None = None,
                   progress: bool = False, siamese_out=None, resume: bool = False):
    """One run: Siamese on ``labelled``, embed all, GNN + baselines, metrics on ``split.test``.
    Returns (metrics by method, embeddings, GNN hidden features of all clips, trained models)."""
    sia = train_siamese([mels[i] for i in labelled], labels[labelled], siamese, device=device, progress=progress,
                        out=siamese_out, resume=resume)
    emb = embed_clips(sia.model, mels, crop_frames=siamese.crop_frames, device=device)
    test = split.test
    if mode == "transductive":
        res = train_gnn(emb, labels, labelled, num_classes, config=gnn, train=gnn_train, device=device)
        xs = torch.as_tensor(standardise_features(emb, res.mean, res.scale)[0], dtype=torch.float32)
        with torch.no_grad():
            logits, hidden = res.model.cpu()(xs, return_hidden=True)
        pred_test = logits[test].argmax(1).numpy()
    else:
        nodes = np.sort(split.train)
        pos = np.searchsorted(nodes, labelled)
        res = train_gnn(emb[nodes], labels[nodes], pos, num_classes, config=gnn, train=gnn_train, device=device)
        xs = torch.as_tensor(standardise_features(emb, res.mean, res.scale)[0], dtype=torch.float32)
        with torch.no_grad():
            model = res.model.cpu()
            _, hidden_ref = model(xs[nodes], return_hidden=True)
            logits_test, hidden_test = model.forward_inductive(xs[nodes], xs[test], return_hidden=True)
        pred_test = logits_test.argmax(1).numpy()
        hidden = torch.zeros(len(emb), hidden_ref.shape[1])
        hidden[nodes], hidden[test] = hidden_ref, hidden_test
    metrics = {"grahams_gnn": classification_metrics(labels[test], pred_test, classes)}
    baselines = {}
    for name in BASELINES:
        clf = fit_baseline(name, emb[labelled], labels[labelled], seed=siamese.seed)
        metrics[name] = classification_metrics(labels[test], clf.predict(emb[test]), classes)
        baselines[name] = clf
    return metrics, emb, hidden.numpy(), {"siamese": sia, "gnn": res, **baselines}


def run_protocol(mels: Sequence[np.ndarray], labels, classes: list[str], config: ProtocolConfig, *,
                 groups=None, splits=None, siamese: SiameseConfig | None = None, gnn: GNNConfig | None = None,
                 gnn_train: GNNTrainConfig | None = None, device: str | None = None,
                 progress: bool = True, done: dict[str, RunResult] | None = None, on_run=None) -> ExperimentResult:
    """Run the protocol over all seeds, splits and fractions.

    ``done`` maps :func:`run_key` to results already computed (they are reused, not rerun);
    ``on_run(key, result)`` is called after every new run, e.g. to save it at once."""
    labels = np.asarray(labels)
    result = ExperimentResult(config, list(classes))
    plan = []
    for seed in config.seeds:
        for split in make_splits(config.protocol, labels, seed=seed, groups=groups, splits=splits,
                                 test_size=config.test_size, k=config.k):
            for frac in config.fractions:
                plan.append((seed, split, frac))
    it = plan
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(plan, desc="experiment", unit="run")
    for seed, split, frac in it:
        key = run_key(seed, split.name, frac)
        if done and key in done:
            result.runs.append(done[key])
            continue
        t0 = time.perf_counter()
        labelled = labelled_subset(split.train, labels, frac, seed=seed)
        sia_cfg = SiameseConfig.from_dict({**(siamese or SiameseConfig()).to_dict(), "seed": seed})
        g_train = GNNTrainConfig(**{**asdict(gnn_train or GNNTrainConfig()), "seed": seed})
        metrics, emb, hidden, _ = evaluate_split(mels, labels, split, labelled, len(classes), list(classes),
                                                 siamese=sia_cfg, gnn=gnn or GNNConfig(), gnn_train=g_train,
                                                 mode=config.mode, device=device)
        run = RunResult(seed, split.name, frac, len(labelled), len(split.test), metrics, time.perf_counter() - t0)
        result.runs.append(run)
        if on_run is not None:
            on_run(key, run)
        log.info("run seed=%d frac=%.2f: %s", seed, frac, {m: round(v["accuracy"], 3) for m, v in metrics.items()})
        result.last_embeddings, result.last_hidden, result.last_labels, result.last_test = emb, hidden, labels, split.test
    return result
