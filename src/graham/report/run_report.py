"""The report of a training run (and, optionally, of a Table 1 experiment): figures and HTML."""

from __future__ import annotations

import dataclasses
import logging
import time
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


def _verdict(table: list[dict]) -> str:
    """Does the graph earn its place, and what should a user run? At each fraction, GrahAM
    against the best other method, by balanced accuracy (real collections are imbalanced), from the table's means (a
    difference under one spread is called a tie); then the method to use at each fraction."""
    parts, advice = [], []
    for frac in sorted({r["fraction"] for r in table}):
        rows = [r for r in table if r["fraction"] == frac]
        ours = next((r for r in rows if r["method"] == result_title("grahams_gnn")), None)
        others = [r for r in rows if r is not ours]
        if ours is None or not others:
            return ""
        best = max(others, key=lambda r: r["balanced_accuracy_mean"])
        gap = ours["balanced_accuracy_mean"] - best["balanced_accuracy_mean"]
        spread = max(ours["balanced_accuracy_std"], best["balanced_accuracy_std"])
        word = "ahead of" if gap > spread else ("behind" if gap < -spread else "level with")
        if spread == 0 and gap != 0:
            word += " (one run: no spread to judge by)"
        parts.append(f"{frac:.0%} labelled: {ours['method']} {100 * ours['balanced_accuracy_mean']:.1f} %, {word} the "
                     f"best other method, {best['method']} {100 * best['balanced_accuracy_mean']:.1f} %")
        top = max(rows, key=lambda r: r["balanced_accuracy_mean"])
        tied = [r["method"] for r in rows if r is not top and top["balanced_accuracy_mean"] - r["balanced_accuracy_mean"]
                <= max(top["balanced_accuracy_std"], r["balanced_accuracy_std"])]
        advice.append(f"with {frac:.0%} of the labels, {top['method']}"
                      + (f" (within the spread: {', '.join(tied)})" if tied else ""))
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
    silhouette scores to ``metrics.json``. ``classifier`` is the run's bundle loaded for
    inference (:class:`graham.inference.predict.GenreClassifier`), through which Grad-CAM++ explains."""
    t0 = time.perf_counter()
    out = outcome.out
    fig_dir = out / "figures"
    classes = outcome.classes
    sections = []
    acc_rows = [{"method": result_title(m), **{f"{METRIC_TITLES[k]} %": f"{100 * run_metric(v, k):.1f}" for k in METRIC_KEYS}}
                for m, v in outcome.metrics.items()]
    sections.append(Section("Run", [
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
    ] + _excluded(outcome.excluded) + _class_key(classes), tables=[acc_rows]))
    per_class = [{"genre": c, **{f"{result_title(m)} F1 %": f"{100 * v['per_class'][c]['f1']:.1f}"
                                 for m, v in outcome.metrics.items()},
                  "test clips": outcome.metrics["grahams_gnn"]["per_class"][c]["support"]} for c in classes]
    conf = confusion_grid({result_title(m): v["confusion"] for m, v in outcome.metrics.items()}, classes,
                          fig_dir / "confusion.png")
    sections.append(Section("Per-genre scores and confusion matrices", tables=[per_class], figures=[(
        conf, "test clips; each row normalised to its true genre, numbers are clip counts")]))

    test = outcome.test_idx
    sil_sia = silhouette(outcome.embeddings[test], outcome.labels[test])
    sil_gnn = silhouette(outcome.hidden[test], outcome.labels[test])
    if len(test) >= MIN_TSNE_CLIPS and np.isfinite(sil_sia) and np.isfinite(sil_gnn):
        tsne = tsne_figure([("Siamese embeddings (128-d)", tsne_2d(outcome.embeddings[test]), sil_sia),
                            ("GrahAM GNN last hidden layer", tsne_2d(outcome.hidden[test]), sil_gnn)],
                           outcome.labels[test], classes, fig_dir / "tsne.png")
        verdict = "denser" if sil_gnn > sil_sia else "less dense"
        sections.append(Section("t-SNE: Siamese vs GrahAM features", [
            f"Test clips only. Silhouette in feature space: Siamese {sil_sia:.3f}, GNN {sil_gnn:.3f}: here the GNN's "
            f"features cluster {verdict} than the Siamese embeddings (the paper's Fig. 1(b) claims denser)."],
            figures=[(tsne, "t-SNE of the test clips, coloured by true genre")]))
    else:
        sections.append(Section("t-SNE: Siamese vs GrahAM features", [
            f"Not drawn: {len(test)} test clips of {len(set(outcome.labels[test].tolist()))} genres are too few for a "
            f"t-SNE layout and a silhouette score (at least {MIN_TSNE_CLIPS} clips and more clips than genres)."]))

    cams, means = _explain(outcome, classifier, explain_per_genre, fig_dir, progress)
    figs = []
    if means:
        labels = dict(zip(classes, class_labels(classes)))
        figs.append((mean_heatmap_figure({labels[g]: m for g, m in means.items()}, outcome.mel,
                                         fig_dir / "gradcam_mean.png"),
                     "over the explained test clips below; each clip's time axis resized to a common length"))
    sections.append(Section("Grad-CAM++ (whole model: the GNN's class score for the clip's node)", [
        "Per clip: the heatmap for the predicted genre, the log-mel spectrogram and their overlay (paper, Fig. 2(a)); "
        f"target layer: {classifier.siamese.backbone.__class__.__name__}'s last convolution."], figures=figs + cams))

    sections.append(Section("Training", figures=[(curves_figure(outcome.models["siamese"].history,
                                                                outcome.models["grahams_gnn"].history, fig_dir / "curves.png"),
                                                  "")]))
    experiments = [] if experiment is None else (experiment if isinstance(experiment, list) else [experiment])
    for k, exp in enumerate(experiments):
        split_kind = exp.config.protocol + (" (the paper's)" if exp.config.protocol == "random" else "")
        sections.append(Section(f"Table 1, {split_kind} split: every method by labelled fraction",
                                [f"Protocol: {exp.describe()}"]
                                + ([f"Why this protocol: {exp.protocol_why}."] if exp.protocol_why else [])
                                + [_verdict(exp.table())],
                                tables=[[{"labelled": f"{r['fraction']:.0%}", "method": r["method"],
                                          **{f"{METRIC_TITLES[k]} %": format_pm(r[f"{k}_mean"], r[f"{k}_std"], r["runs"])
                                             for k in METRIC_KEYS},
                                          "runs": r["runs"]} for r in exp.table()]],
                                figures=[(table_figure(exp.table(), fig_dir / f"table1_{exp.config.protocol}.png",
                                                       title="test balanced accuracy by labelled fraction "
                                                             f"({exp.config.protocol} split)"),
                                          "mean over runs; error bars: the standard deviation, where there are "
                                          "several runs")]))
    settings = {"mel": outcome.mel.to_dict(), "siamese": outcome.siamese_config.to_dict(), "gnn": outcome.gnn_config.to_dict(),
                "gnn_training": dataclasses.asdict(outcome.gnn_train)}
    import json
    sections.append(Section("Settings and skipped files", pre=[compact_json(settings)],
                            paragraphs=[f"{len(outcome.skipped)} files skipped" + (":" if outcome.skipped else ".")]
                            + [str(s) for s in outcome.skipped]
                            + ([f"{len(outcome.excluded)} clips excluded (--exclude):"] if outcome.excluded else [])
                            + [str(s) for s in outcome.excluded]))
    path = write_report(out / "report.html", f"graham report — {outcome.corpus.name}", sections)
    metrics_path = out / "metrics.json"
    doc = json.loads(metrics_path.read_text())
    doc["silhouette"] = {"siamese": sil_sia if np.isfinite(sil_sia) else None,
                         "gnn": sil_gnn if np.isfinite(sil_gnn) else None, "clips": "test"}
    doc["timings"]["report_s"] = round(time.perf_counter() - t0, 1)
    if experiments:
        doc["table1"] = experiments[0].to_dict()
        doc["table1_by_protocol"] = {e.config.protocol: e.to_dict() for e in experiments}
    write_json(metrics_path, doc)
    return path
