"""The report of a training run (and, optionally, of a Table 1 experiment): figures and HTML."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..evaluate.methods import result_title, siamese_sources
from ..evaluate.metrics import METRIC_KEYS, METRIC_TITLES, format_pm, run_metric
from ..explain.tsne import silhouette, tsne_2d
from ..utils.files import compact_json, write_json
from .explained import ClipToExplain, explain_clips
from .figures import class_labels, confusion_grid, curves_figure, mean_heatmap_figure, table_figure, tsne_figure
from .html import Section, write_report

__all__ = ["write_run_report"]

log = logging.getLogger(__name__)


def _explain(outcome, classifier, per_genre: int, fig_dir: Path, progress: bool):
    """Grad-CAM++ for up to ``per_genre`` test clips of each genre (drawn with a fixed seed):
    figures and the mean map of each explained genre."""
    rng = np.random.default_rng(0)
    clips = []
    for k, genre in enumerate(outcome.classes):
        members = outcome.test_idx[outcome.labels[outcome.test_idx] == k]
        clips += [ClipToExplain(outcome.corpus.clips[int(i)].path, outcome.corpus.clips[int(i)].clip_id, genre)
                  for i in rng.permutation(members)[:per_genre]]
    done, means = explain_clips(classifier, clips, fig_dir, progress=progress)
    return [(e.figure, "") for e in done], means


@dataclass(frozen=True)
class Judgement:
    """GrahAM against the best other method at one labelled fraction, by balanced accuracy (real
    collections are imbalanced): ``word`` is ``ahead of``, ``behind`` or ``level with`` (a
    difference under one spread is a tie); ``advised`` the best method there, ``tied`` those
    within the spread of it."""

    fraction: float
    ours: dict
    best_other: dict
    word: str
    advised: str
    tied: tuple[str, ...]


def _judge(table: list[dict]) -> list[Judgement]:
    """Does the graph earn its place, and what should a user run, at each fraction of the table
    (from its means and spreads)? Empty when GrahAM or every other method is missing."""
    out = []
    for frac in sorted({r["fraction"] for r in table}):
        rows = [r for r in table if r["fraction"] == frac]
        ours = next((r for r in rows if r["method"] == result_title("grahams_gnn")), None)
        others = [r for r in rows if r is not ours]
        if ours is None or not others:
            return []
        best = max(others, key=lambda r: r["balanced_accuracy_mean"])
        gap = ours["balanced_accuracy_mean"] - best["balanced_accuracy_mean"]
        spread = max(ours["balanced_accuracy_std"], best["balanced_accuracy_std"])
        word = "ahead of" if gap > spread else ("behind" if gap < -spread else "level with")
        if spread == 0 and gap != 0:
            word += " (one run: no spread to judge by)"
        top = max(rows, key=lambda r: r["balanced_accuracy_mean"])
        tied = tuple(r["method"] for r in rows if r is not top and top["balanced_accuracy_mean"]
                     - r["balanced_accuracy_mean"] <= max(top["balanced_accuracy_std"], r["balanced_accuracy_std"]))
        out.append(Judgement(frac, ours, best, word, top["method"], tied))
    return out


def _verdict(table: list[dict]) -> str:
    """:func:`_judge`'s decisions in words, for the report."""
    judged = _judge(table)
    if not judged:
        return ""
    parts = [f"{j.fraction:.0%} labelled: {j.ours['method']} {100 * j.ours['balanced_accuracy_mean']:.1f} %, {j.word} "
             f"the best other method, {j.best_other['method']} {100 * j.best_other['balanced_accuracy_mean']:.1f} %"
             for j in judged]
    advice = [f"with {j.fraction:.0%} of the labels, {j.advised}"
              + (f" (within the spread: {', '.join(j.tied)})" if j.tied else "") for j in judged]
    return ("Does the graph help? Balanced accuracy: " + "; ".join(parts) + ". What to use on data like this: "
            + "; ".join(advice) + ".")


def _timings(t: dict) -> str:
    """The run's timings in words, saying what includes what."""
    parts = []
    if "features_s" in t:
        parts.append(f"features (decoding and log-mels; cached ones are read) {t['features_s']:.1f} s")
    if "training_s" in t:
        inner = [f"the Siamese network {t['siamese_s']:.1f} s" if "siamese_s" in t else "",
                 f"GrahAM's GNN with correct & smooth {t['gnn_s']:.1f} s" if "gnn_s" in t else ""]
        inner = [x for x in inner if x]
        parts.append(f"training and scoring every method {t['training_s']:.1f} s"
                     + (f" (of which {' and '.join(inner)}; the rest: the other methods, the supervised CNN "
                        "among them, and scoring)" if inner else ""))
    return "Timings: " + "; ".join(parts) + ". Writing this report comes on top (metrics.json, report_s)."


def _excluded(excluded: list) -> list[str]:
    """A paragraph on the clips ``--exclude`` left out: how many, and why (reasons grouped by
    their kind, the words before a colon or "of")."""
    if not excluded:
        return []
    from collections import Counter

    kinds = Counter(s.reason.split(":")[0].split(" of ")[0].strip() for s in excluded)
    why = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    return [f"{len(excluded)} clips were excluded before the split (--exclude): {why}. They are listed with their "
            "reasons under \"Settings and skipped files\" and in metrics.json."]


def _class_key(classes: list[str]) -> list[str]:
    """A paragraph naming the classes that figures show by number (see :func:`class_labels`)."""
    labels = class_labels(classes)
    pairs = [f"{label} = {name}" for label, name in zip(labels, classes) if label != name]
    return [f"The plotting font cannot draw some class names; figures show them by number: {', '.join(pairs)}."] \
        if pairs else []


MIN_TSNE_CLIPS = 5  # t-SNE needs perplexity < clips; the silhouette needs more clips than classes


def write_run_report(outcome, classifier, *, experiment=None, explain_per_genre: int = 1, progress: bool = True) -> Path:
    """Write ``outcome.out/report.html`` and its figures under ``outcome.out/figures``; adds the
    silhouette scores to ``metrics.json``.

    Parameters
    ----------
    outcome : graham.workflows.train.TrainOutcome
        The training run.
    classifier : graham.inference.predict.GenreClassifier
        The run's bundle loaded for inference, through which Grad-CAM++ explains.
    experiment : ExperimentResult or list of them, optional
        Table 1 runs to show after the training run's figures.
    explain_per_genre : int
        Test clips of each genre explained with Grad-CAM++.
    progress : bool
        Show a progress bar while explaining.

    Returns
    -------
    Path
        The page.
    """
    t0 = time.perf_counter()
    fig_dir = outcome.out / "figures"
    experiments = [] if experiment is None else (experiment if isinstance(experiment, list) else [experiment])
    tsne, sil_sia, sil_gnn = _tsne_section(outcome, fig_dir)
    sections = [_run_section(outcome), _scores_section(outcome, fig_dir), tsne,
                _gradcam_section(outcome, classifier, explain_per_genre, fig_dir, progress),
                Section("Training", figures=[(curves_figure(outcome.models["siamese"].history,
                                                            outcome.models["grahams_gnn"].history,
                                                            fig_dir / "curves.png"), "")])]
    sections += [_experiment_section(exp, fig_dir) for exp in experiments]
    sections.append(_settings_section(outcome))
    path = write_report(outcome.out / "report.html", f"graham report — {outcome.corpus.name}", sections)
    metrics_path = outcome.out / "metrics.json"
    doc = json.loads(metrics_path.read_text())
    doc["silhouette"] = {"siamese": sil_sia if np.isfinite(sil_sia) else None,
                         "gnn": sil_gnn if np.isfinite(sil_gnn) else None, "clips": "test"}
    doc["timings"]["report_s"] = round(time.perf_counter() - t0, 1)
    if experiments:
        doc["table1"] = experiments[0].to_dict()
        doc["table1_by_protocol"] = {e.config.protocol: e.to_dict() for e in experiments}
    write_json(metrics_path, doc)
    return path


def _run_section(outcome) -> Section:
    """What was run: the data, the split, the graph, how each row was scored, the timings."""
    acc_rows = [{"method": result_title(m), **{f"{METRIC_TITLES[k]} %": f"{100 * run_metric(v, k):.1f}" for k in METRIC_KEYS}}
                for m, v in outcome.metrics.items()]
    return Section("Run", [
        f"Data set: {outcome.corpus.name}" + ("" if outcome.corpus.name.startswith(outcome.dataset)
                                               else f" (from {outcome.dataset})") + ".",
        f"Split: {outcome.split_name}; {len(outcome.train_idx)} training clips ({len(outcome.labelled_idx)} labelled), "
        f"{len(outcome.test_idx)} test clips" + (f"; {outcome.protocol_why}" if outcome.protocol_why else "") + ". "
        + (f"Warning, {outcome.leakage}. " if outcome.leakage else "")
        + f"{outcome.gnn_config.describe()}. "
        "Every row but the last is transductive: the test clips are unlabelled nodes of the graph while the GNN "
        "trains (as in the paper). The last row, the GrahAM bundle, is the model you ship scored as it predicts: "
        "each test clip cut into windows, each window a new node attached to the training clips, probabilities "
        "averaged. The Siamese network learned from the "
        + siamese_sources(outcome.siamese_config, len(outcome.labelled_idx), len(outcome.train_idx))
        + "; it saw no test clip.",
        _timings(outcome.timings),
    ] + _excluded(outcome.excluded) + _class_key(outcome.classes), tables=[acc_rows])


def _scores_section(outcome, fig_dir: Path) -> Section:
    classes = outcome.classes
    per_class = [{"genre": c, **{f"{result_title(m)} F1 %": f"{100 * v['per_class'][c]['f1']:.1f}"
                                 for m, v in outcome.metrics.items()},
                  "test clips": outcome.metrics["grahams_gnn"]["per_class"][c]["support"]} for c in classes]
    conf = confusion_grid({result_title(m): v["confusion"] for m, v in outcome.metrics.items()}, classes,
                          fig_dir / "confusion.png")
    return Section("Per-genre scores and confusion matrices", tables=[per_class], figures=[(
        conf, "test clips; each row normalised to its true genre, numbers are clip counts")])


def _tsne_section(outcome, fig_dir: Path) -> tuple[Section, float, float]:
    """t-SNE of the test clips' Siamese embeddings and GNN features, and their silhouettes."""
    test = outcome.test_idx
    sil_sia = silhouette(outcome.embeddings[test], outcome.labels[test])
    sil_gnn = silhouette(outcome.hidden[test], outcome.labels[test])
    title = "t-SNE: Siamese vs GrahAM features"
    if not (len(test) >= MIN_TSNE_CLIPS and np.isfinite(sil_sia) and np.isfinite(sil_gnn)):
        return Section(title, [
            f"Not drawn: {len(test)} test clips of {len(set(outcome.labels[test].tolist()))} genres are too few for a "
            f"t-SNE layout and a silhouette score (at least {MIN_TSNE_CLIPS} clips and more clips than genres)."]), \
            sil_sia, sil_gnn
    tsne = tsne_figure([("Siamese embeddings (128-d)", tsne_2d(outcome.embeddings[test]), sil_sia),
                        ("GrahAM GNN last hidden layer", tsne_2d(outcome.hidden[test]), sil_gnn)],
                       outcome.labels[test], outcome.classes, fig_dir / "tsne.png")
    verdict = "denser" if sil_gnn > sil_sia else "less dense"
    return Section(title, [
        f"Test clips only. Silhouette in feature space: Siamese {sil_sia:.3f}, GNN {sil_gnn:.3f}: here the GNN's "
        f"features cluster {verdict} than the Siamese embeddings (the paper's Fig. 1(b) claims denser)."],
        figures=[(tsne, "t-SNE of the test clips, coloured by true genre")]), sil_sia, sil_gnn


def _gradcam_section(outcome, classifier, per_genre: int, fig_dir: Path, progress: bool) -> Section:
    cams, means = _explain(outcome, classifier, per_genre, fig_dir, progress)
    figs = []
    if means:
        labels = dict(zip(outcome.classes, class_labels(outcome.classes)))
        figs.append((mean_heatmap_figure({labels[g]: m for g, m in means.items()}, outcome.mel,
                                         fig_dir / "gradcam_mean.png"),
                     "over the explained test clips below; each clip's time axis resized to a common length"))
    return Section("Grad-CAM++ (whole model: the GNN's class score for the clip's node)", [
        "Per clip: the heatmap for the predicted genre, the log-mel spectrogram and their overlay (paper, Fig. 2(a)); "
        f"target layer: {classifier.siamese.backbone.__class__.__name__}'s last convolution."], figures=figs + cams)


def _experiment_section(exp, fig_dir: Path) -> Section:
    """One Table 1 experiment: the protocol, the verdict, the table and its figure."""
    split_kind = exp.config.protocol + (" (the paper's)" if exp.config.protocol == "random" else "")
    table = exp.table()
    rows = [{"labelled": f"{r['fraction']:.0%}", "method": r["method"],
             **{f"{METRIC_TITLES[k]} %": format_pm(r[f"{k}_mean"], r[f"{k}_std"], r["runs"]) for k in METRIC_KEYS},
             "runs": r["runs"]} for r in table]
    figure = table_figure(table, fig_dir / f"table1_{exp.config.protocol}.png",
                          title=f"test balanced accuracy by labelled fraction ({exp.config.protocol} split)")
    return Section(f"Table 1, {split_kind} split: every method by labelled fraction",
                   [f"Protocol: {exp.describe()}"] + ([f"Why this protocol: {exp.protocol_why}."] if exp.protocol_why
                                                       else []) + [_verdict(table)],
                   tables=[rows], figures=[(figure, "mean over runs; error bars: the standard deviation, where there "
                                                    "are several runs")])


def _settings_section(outcome) -> Section:
    settings = {"mel": outcome.mel.to_dict(), "siamese": outcome.siamese_config.to_dict(),
                "gnn": outcome.gnn_config.to_dict(), "gnn_training": outcome.gnn_train.to_dict()}
    return Section("Settings and skipped files", pre=[compact_json(settings)],
                   paragraphs=[f"{len(outcome.skipped)} files skipped" + (":" if outcome.skipped else ".")]
                   + [str(s) for s in outcome.skipped]
                   + ([f"{len(outcome.excluded)} clips excluded (--exclude):"] if outcome.excluded else [])
                   + [str(s) for s in outcome.excluded])
