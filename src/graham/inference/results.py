"""What a prediction returns: typed, frozen results (a clip's genres, its windows' scores and
its nearest training clips), each with ``to_dict`` where a program reads it as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..audio.mel import MelConfig

__all__ = ["GenreScore", "WindowScore", "Neighbour", "Prediction", "make_prediction"]


@dataclass(frozen=True)
class GenreScore:
    label: str
    score: float


@dataclass(frozen=True)
class WindowScore:
    """Class probabilities of one window starting at ``start`` and ending at ``end`` [s]."""

    start: float
    end: float
    scores: tuple[GenreScore, ...]


@dataclass(frozen=True)
class Neighbour:
    """A training clip near the predicted one: its id, its label (None: trained on without
    it) and its similarity (the mean over the clip's windows of the cosine similarity of
    embeddings, the measure the kNN graph attaches windows by; 1 is the same direction)."""

    clip_id: str
    label: str | None
    similarity: float


@dataclass(frozen=True)
class Prediction:
    """A file's (or array's) result: the top-k genres, all probabilities, optional time line."""

    source: str
    duration: float
    top: tuple[GenreScore, ...]
    probabilities: dict[str, float]
    windows: tuple[WindowScore, ...] = field(default=())
    neighbours: tuple[Neighbour, ...] = field(default=())

    @property
    def label(self) -> str:
        return self.top[0].label

    def to_dict(self) -> dict:
        d = {"source": self.source, "duration": round(self.duration, 3), "label": self.label,
             "top": [{"label": g.label, "score": g.score} for g in self.top], "probabilities": self.probabilities}
        if self.windows:
            d["windows"] = [{"start": w.start, "end": w.end, "scores": {g.label: g.score for g in w.scores}}
                            for w in self.windows]
        if self.neighbours:
            d["neighbours"] = [{"clip_id": n.clip_id, "label": n.label, "similarity": n.similarity}
                               for n in self.neighbours]
        return d


def make_prediction(source: str, frames: int, starts: np.ndarray, probs: np.ndarray, *, classes: list[str],
                    mel: MelConfig, crop_frames: int, top_k: int, per_window: bool,
                    neighbours: tuple[Neighbour, ...] = ()) -> Prediction:
    """A clip's :class:`Prediction` from its windows' class probabilities [shape=(W, classes)]
    (their mean), the windows' start frames [shape=(W,)] and the clip's length in frames."""
    mean = probs.mean(0)
    order = np.argsort(-mean)[:top_k]
    hop_s = mel.hop_length / mel.sr
    duration = (frames - 1) * hop_s
    windows: tuple[WindowScore, ...] = ()
    if per_window:
        windows = tuple(WindowScore(round(float(s * hop_s), 3), round(float(min((s + crop_frames) * hop_s, duration)), 3),
                                    tuple(GenreScore(c, float(p[k])) for k, c in enumerate(classes)))
                        for s, p in zip(starts, probs))
    return Prediction(source, float(duration), tuple(GenreScore(classes[k], float(mean[k])) for k in order),
                      {c: float(mean[k]) for k, c in enumerate(classes)}, windows, neighbours)
