"""The report's figures (matplotlib), each written as a PNG.

Figures are made with matplotlib's object API (``Figure``), not pyplot: no backend is chosen
for the process, no global figure registry is touched, and figures can be drawn from several
threads (the HTTP service) at once.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from ..audio.mel import MelConfig, mel_frequencies
from ..utils.figures import new_figure, save

__all__ = ["drawable", "class_labels", "printable", "confusion_figure", "confusion_grid",
           "tsne_figure", "gradcam_figure", "mean_heatmap_figure", "curves_figure", "table_figure"]


_COVERED: dict[str, frozenset] = {}


def _font_chars() -> frozenset:
    """The characters the default plotting font can draw (read once from its character map)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(font_manager.FontProperties())
    if path not in _COVERED:
        _COVERED[path] = frozenset(chr(c) for c in FT2Font(path).get_charmap())
    return _COVERED[path]


def drawable(text: str) -> bool:
    """Whether the plotting font has a glyph for every character of ``text`` (else matplotlib
    draws empty boxes)."""
    chars = _font_chars()
    return all(ch in chars or ch.isspace() for ch in text)


def class_labels(classes: list[str]) -> list[str]:
    """Class names as figures can show them: the name, or ``class K`` (1-based) for a name the
    plotting font cannot draw (CJK, Arabic, ... without such a font installed); the report's
    text, drawn by the browser, gives the key."""
    return [c if drawable(c) else f"class {k + 1}" for k, c in enumerate(classes)]


def printable(text: str) -> str:
    """``text`` with each character the plotting font cannot draw shown as ``?`` (titles made
    of file names and class names)."""
    chars = _font_chars()
    return "".join(ch if ch in chars or ch.isspace() else "?" for ch in text)


def _draw_confusion(ax, cm, classes: list[str], title: str, *, small: bool = False):
    """One row-normalised confusion matrix on ``ax`` (true genre per row), counts in the cells;
    ``classes`` as :func:`class_labels` gives them. Returns the image, for a colour bar."""
    cm = np.asarray(cm, dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(classes)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=45, ha="right", fontsize=8 if small else None)
    ax.set_yticks(range(n), classes, fontsize=8 if small else None)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7 if small else 8,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(printable(title), fontsize=10 if small else None)
    return im


def confusion_figure(cm, classes: list[str], title: str, path) -> Path:
    """Row-normalised confusion matrix (true genre per row), counts in the cells."""
    n = len(classes)
    fig, ax = new_figure(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    im = _draw_confusion(ax, cm, class_labels(classes), title)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true genre")
    return save(fig, path)


def confusion_grid(cms: dict[str, np.ndarray], classes: list[str], path, *, columns: int = 3) -> Path:
    """Row-normalised confusion matrices of several methods in a grid (one PNG), counts in the
    cells and one shared colour bar: methods side by side, comparable at a glance."""
    n, k, labels = len(classes), len(cms), class_labels(classes)
    cols = min(columns, k)
    rows = -(-k // cols)
    side = 1.0 + 0.42 * n
    fig, axes = new_figure(rows, cols, figsize=(side * cols + 1.0, (side + 0.3) * rows), squeeze=False)
    im = None
    for ax, (title, cm) in zip(axes.flat, cms.items()):
        im = _draw_confusion(ax, cm, labels, title, small=True)
    for ax in list(axes.flat)[:k]:
        ax.set_xlabel("predicted genre")
    for ax in axes[:, 0]:
        ax.set_ylabel("true genre")
    for ax in list(axes.flat)[k:]:
        ax.axis("off")
    fig.colorbar(im, ax=axes, fraction=0.02, label="fraction of the true genre")
    return save(fig, path)


def tsne_figure(layouts: list[tuple[str, np.ndarray, float]], labels: np.ndarray, classes: list[str], path) -> Path:
    """Side-by-side 2-D layouts (title, points [N, 2], silhouette), coloured by genre."""
    fig, axes = new_figure(1, len(layouts), figsize=(6.2 * len(layouts), 5.6))
    axes = np.atleast_1d(axes)
    cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    classes = class_labels(classes)
    for ax, (title, pts, sil) in zip(axes, layouts):
        for k, c in enumerate(classes):
            m = labels == k
            ax.scatter(pts[m, 0], pts[m, 1], s=14, color=cmap(k % cmap.N), label=c, alpha=0.85, edgecolors="none")
        ax.set_title(f"{title}\nsilhouette {sil:.3f} (in feature space)")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, frameon=False)
    return save(fig, path)


def _freq_axis(ax, cfg: MelConfig) -> None:
    freqs = mel_frequencies(cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax or cfg.sr / 2, htk=cfg.htk)
    ticks = np.linspace(0, cfg.n_mels - 1, 5).astype(int)
    ax.set_yticks(ticks, [f"{freqs[t]:.0f}" for t in ticks])
    ax.set_ylabel("frequency [Hz]")


def gradcam_figure(mel: np.ndarray, cam: np.ndarray, cfg: MelConfig, title: str, path) -> Path:
    """The paper's Fig. 2(a) row: heatmap, mel spectrogram, overlay; time [s] and frequency [Hz]."""
    seconds = mel.shape[-1] * cfg.hop_length / cfg.sr
    extent = [0, seconds, 0, cfg.n_mels]
    fig, axes = new_figure(1, 3, figsize=(16, 3.6), sharey=True)
    heat = axes[0].imshow(cam, origin="lower", aspect="auto", cmap="jet", vmin=0, vmax=1, extent=extent)
    axes[0].set_title("Grad-CAM++ heatmap")
    fig.colorbar(heat, ax=axes[0], fraction=0.05, label="relevance (0-1)")
    spec = axes[1].imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=extent)
    axes[1].set_title("log-mel spectrogram")
    fig.colorbar(spec, ax=axes[1], fraction=0.05, label="level [dB]")
    axes[2].imshow(mel, origin="lower", aspect="auto", cmap="gray", extent=extent)
    axes[2].imshow(cam, origin="lower", aspect="auto", cmap="jet", alpha=0.45, vmin=0, vmax=1, extent=extent)
    axes[2].set_title("overlay")
    fig.colorbar(heat, ax=axes[2], fraction=0.05, label="relevance (0-1)")
    for ax in axes:
        ax.set_xlabel("time [s]")
    _freq_axis(axes[0], cfg)
    fig.suptitle(printable(title))
    return save(fig, path)


def mean_heatmap_figure(maps: dict[str, np.ndarray], cfg: MelConfig, path) -> Path:
    """Mean Grad-CAM++ map per genre (each averaged over its explained clips). Clips of any
    length were resized to a common width before averaging, so the time axis is the relative
    position in the clip (0: start, 1: end), not seconds."""
    n = len(maps)
    cols = min(5, n)
    rows = -(-n // cols)
    fig, axes = new_figure(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False, sharey=True)
    for ax, (genre, m) in zip(axes.flat, maps.items()):
        ax.imshow(m, origin="lower", aspect="auto", cmap="jet", vmin=0, vmax=1, extent=[0, 1, 0, cfg.n_mels])
        ax.set_title(printable(genre))
        ax.set_xlabel("clip position (0 start, 1 end)")
    for ax in axes[:, 0]:
        _freq_axis(ax, cfg)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("mean Grad-CAM++ heatmap per genre")
    return save(fig, path)


def curves_figure(siamese_history: list[dict], gnn_history: list[dict], path) -> Path:
    """Training curves in three panels, each with its own y-axis: the Siamese loss, the Siamese
    accuracies (pair accuracy, validation ROC-AUC; 0-1) and the GNN's loss, per epoch."""
    fig, axes = new_figure(1, 3, figsize=(15, 3.8))
    ep = [h["epoch"] + 1 for h in siamese_history]
    axes[0].plot(ep, [h["loss"] for h in siamese_history], label="train")
    axes[0].set_ylabel("loss (pairs, + identification)")
    axes[0].set_title("Siamese network: loss")
    axes[1].plot(ep, [h["pair_acc"] for h in siamese_history], label="train pair accuracy")
    for key, name in (("val_auc", "validation ROC-AUC"), ("val_pair_acc", "validation pair accuracy"),
                      ("val_centroid_acc", "validation nearest-centroid accuracy")):
        if siamese_history and key in siamese_history[0]:
            axes[1].plot(ep, [h[key] for h in siamese_history], label=name)
    axes[1].set_ylim(0, 1.02)
    axes[1].set_ylabel("accuracy / ROC-AUC")
    axes[1].set_title("Siamese network: accuracy")
    axes[1].legend(fontsize=8, loc="lower right")
    axes[2].plot([h["epoch"] + 1 for h in gnn_history], [h["loss"] for h in gnn_history])
    axes[2].set_ylabel("cross-entropy on labelled nodes")
    axes[2].set_title("GNN: loss")
    for ax in axes:
        ax.set_xlabel("epoch")
    return save(fig, path)


def table_figure(table: list[dict], path, *, title: str, metric: str = "balanced_accuracy") -> Path:
    """``metric`` (mean ± std over runs) per labelled fraction and method: Table 1(b) as bars.
    Error bars only where there are several runs; the legend sits beside the axes, off the bars."""
    fracs = sorted({r["fraction"] for r in table})
    methods = list(dict.fromkeys(r["method"] for r in table))
    fig, ax = new_figure(figsize=(3.6 + 2.2 * len(fracs), 4))
    width = 0.8 / len(methods)
    for k, m in enumerate(methods):
        missing = {"runs": 0, f"{metric}_mean": np.nan, f"{metric}_std": 0.0}  # no bar where a method did not run
        rows = [next((r for r in table if r["fraction"] == f and r["method"] == m), missing) for f in fracs]
        xs = np.arange(len(fracs)) + (k - (len(methods) - 1) / 2) * width
        several = any(r["runs"] > 1 for r in rows)
        ax.bar(xs, [100 * r[f"{metric}_mean"] for r in rows], width,
               yerr=[100 * r[f"{metric}_std"] for r in rows] if several else None, label=m, capsize=3)
    ax.set_xticks(range(len(fracs)), [f"{f:.0%} labelled" for f in fracs])
    ax.set_ylabel(f"test {metric.replace('_', ' ')} [%]")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_title(title)
    return save(fig, path)

