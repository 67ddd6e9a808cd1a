"""The one Grad-CAM++ loop: clips through a loaded bundle, a heatmap/mel/overlay figure per clip
and the mean map per explained genre. ``graham explain`` and the run report both call it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import GrahamError
from ..explain.gradcam import explain_clip, mean_maps
from .figures import class_labels, gradcam_figure

__all__ = ["ClipToExplain", "Explained", "explain_clips"]


@dataclass(frozen=True)
class ClipToExplain:
    """A clip to explain: its audio file, the figure's name (``gradcam_<name>.png``) and, when
    known, its true genre (the title then says true and predicted)."""

    path: Path
    name: str
    true_genre: str | None = None


@dataclass(frozen=True)
class Explained:
    clip: ClipToExplain
    figure: Path
    genre: str  # the genre the map explains (the predicted one unless a target was asked)


def explain_clips(classifier, clips: Sequence[ClipToExplain], out: Path, *, target: str | None = None,
                  layer: str | None = None, progress: bool = False,
                  on_skip: Callable[[GrahamError], None] | None = None) -> tuple[list[Explained], dict[str, np.ndarray]]:
    """Grad-CAM++ of every clip through ``classifier`` (a loaded bundle) for ``target`` (default:
    each clip's predicted genre), a figure each under ``out``; returns (what was explained, the
    mean map of each explained genre). An unreadable clip goes to ``on_skip`` (None: raised)."""
    classes = classifier.classes
    if target is not None and target not in classes:
        raise GrahamError(f"unknown genre {target!r}; the bundle knows {', '.join(classes)}")
    labels = dict(zip(classes, class_labels(classes)))
    it: Sequence[ClipToExplain] = clips
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(clips, desc="grad-cam++", unit="clip", leave=False)
    done: list[Explained] = []
    stacks: dict[str, list[np.ndarray]] = {}
    for clip in it:
        try:
            mel = classifier.mel(clip.path)
        except GrahamError as exc:
            if on_skip is None:
                raise
            on_skip(exc)
            continue
        cam, t = explain_clip(classifier, mel, target=None if target is None else classes.index(target), layer=layer)
        genre = classes[t]
        title = (f"{clip.name}: true {labels[clip.true_genre]}, predicted {labels[genre]}" if clip.true_genre
                 else f"{clip.name}: Grad-CAM++ for {labels[genre]}")
        png = gradcam_figure(mel, cam, classifier.bundle.mel, title, Path(out) / f"gradcam_{clip.name}.png")
        done.append(Explained(clip, png, genre))
        stacks.setdefault(genre, []).append(cam)
    return done, mean_maps(stacks)
