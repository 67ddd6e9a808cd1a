"""Inference with a trained bundle: load once, predict many.

A clip of any length is decoded, turned into one log-mel, cut into windows of the training
crop length (hop: half a window), each window embedded by phi and attached as a new node to
every reference node of the graph (or its k nearest); the GNN's class probabilities (after
correct & smooth, with the ``cpu`` preset) are averaged over windows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..audio.bandstats import RunningBandStatistics
from ..audio.decode import audio_info
from ..audio.stream import file_mel_peak, stream_frames
from ..audio.windows import fit_length, window_starts
from ..errors import AudioError, GrahamError, ParameterError
from ..utils.devices import resolve_device
from ..utils.parallel import map_ahead
from .bundle import Bundle, load_bundle
from .frontend import FrontEnd
from .reference_graph import ReferenceGraph

__all__ = ["GenreScore", "WindowScore", "Neighbour", "Prediction", "GenreClassifier", "load"]


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


class GenreClassifier:
    """A bundle ready for inference (CPU by default): a :class:`~graham.inference.frontend.FrontEnd`
    (audio to window embeddings) and a :class:`~graham.inference.reference_graph.ReferenceGraph` (window
    embeddings to class probabilities), driven here for one clip, a long file in blocks, or many
    files in shared batches. Thread-safe for concurrent predictions: it holds no per-call state."""

    #: Files longer than this [s] are decoded, turned into log-mels and embedded in blocks (two
    #: passes: the dB clip needs the file's loudest value first), so that memory does not grow
    #: with their length; shorter ones are read whole, once.
    STREAM_SECONDS = 600.0

    def __init__(self, bundle: Bundle, *, device: str | None = None, batch_size: int = 32,
                 stream_seconds: float | None = None) -> None:
        self.bundle = bundle
        self.stream_seconds = self.STREAM_SECONDS if stream_seconds is None else float(stream_seconds)
        self.device = resolve_device(device)  # None or "auto": a GPU when there is one, as in every command
        self.front = FrontEnd(bundle.mel, bundle.siamese, crop_frames=bundle.siamese_config.crop_frames,
                              device=self.device, band_statistics=bundle.gnn.config.band_statistics,
                              batch_size=batch_size)
        self.graph = ReferenceGraph(bundle, self.device)
        self.siamese, self.gnn, self.crop_frames = self.front.siamese, self.graph.gnn, self.front.crop_frames

    @property
    def classes(self) -> list[str]:
        return self.bundle.classes

    # -- the front end and the graph, by name ------------------------------------------------
    def mel(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> np.ndarray:
        """Log-mel [shape=(n_mels, frames)] of a file or of samples at ``sr`` [Hz]."""
        return self.front.mel(audio, sr=sr)

    def window_embeddings(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings [shape=(W, 128)], window start frames [shape=(W,)])."""
        return self.front.window_embeddings(mel)

    def clip_statistics(self, mel: np.ndarray) -> torch.Tensor | None:
        """The clip's band statistics [shape=(3 n_mels,)] when the GNN reads them, else None."""
        return self.front.clip_statistics(mel)

    @torch.no_grad()
    def node_logits(self, embeddings: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        """GNN logits of new nodes [shape=(W, classes)] attached to the reference nodes
        (:meth:`ReferenceGraph.node_logits_grad`, without the gradient)."""
        return self.graph.node_logits_grad(embeddings, stats)

    def node_logits_grad(self, embeddings: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        """As :meth:`node_logits`, differentiable (for Grad-CAM++ through the whole model)."""
        return self.graph.node_logits_grad(embeddings, stats)

    def node_probabilities(self, embeddings: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        """Class probabilities of new nodes [shape=(W, classes)], after correct & smooth where the
        bundle uses it (:meth:`ReferenceGraph.node_probabilities`)."""
        return self.graph.node_probabilities(embeddings, stats)

    def nearest_references(self, window_embeddings: torch.Tensor | np.ndarray, k: int) -> tuple[Neighbour, ...]:
        """The ``k`` training clips most similar to a clip, given its windows' embeddings."""
        return tuple(Neighbour(*n) for n in self.graph.nearest(window_embeddings, k))

    def embed(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> np.ndarray:
        """The clip's 128-d embedding: the mean over its windows (as in training)."""
        emb, _ = self.window_embeddings(self.mel(audio, sr=sr))
        return emb.mean(0)

    def extend(self, add, *, ids=None, seed: int | None = None) -> "GenreClassifier":
        """A new classifier whose bundle has the clips of ``add`` (label -> files, or log-mels from
        :meth:`mel`) as labelled reference clips: a new genre or more examples of an old one. The
        Siamese network is kept; only the graph part is refit (:func:`graham.workflows.extend.extend_bundle`,
        seconds on the CPU). This classifier is left as it is; save the new one's bundle with
        :meth:`Bundle.save <graham.inference.bundle.Bundle.save>`."""
        from ..workflows.extend import extend_bundle  # the one door into training code: the GNN's refit

        bundle = extend_bundle(self.bundle, add, ids=ids, seed=seed, device=str(self.device))
        return GenreClassifier(bundle, device=str(self.device), batch_size=self.front.batch_size,
                               stream_seconds=self.stream_seconds)

    # -- the drivers -----------------------------------------------------------------------
    def predict(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None, top_k: int = 3,
                per_window: bool = False, neighbours: int = 0) -> Prediction:
        """Classify a file or raw samples; probabilities are averaged over windows. A file longer
        than ``stream_seconds`` is read in blocks (:meth:`predict_streamed`). ``neighbours``: the
        result also names that many nearest training clips (:meth:`nearest_references`)."""
        if not isinstance(audio, np.ndarray) and self._is_long(audio):
            return self.predict_streamed(audio, top_k=top_k, per_window=per_window, neighbours=neighbours)
        source = str(audio) if not isinstance(audio, np.ndarray) else "<array>"
        return self.predict_mel(self.mel(audio, sr=sr), top_k=top_k, per_window=per_window, source=source,
                                neighbours=neighbours)

    def _is_long(self, path: str | os.PathLike) -> bool:
        return audio_info(path).duration > self.stream_seconds

    @torch.no_grad()
    def predict_streamed(self, path: str | os.PathLike, *, top_k: int = 3, per_window: bool = False,
                         block_seconds: float = 30.0, neighbours: int = 0) -> Prediction:
        """Classify a file of any length in the memory of a block of ``block_seconds``: the
        result of :meth:`predict` on the whole file (the same log-mel frames, windows, band
        statistics and graph), computed in two passes over the file."""
        if top_k < 1:
            raise ParameterError("top_k must be >= 1")
        cfg, crop = self.bundle.mel, self.crop_frames
        peak, samples = file_mel_peak(path, cfg, device=self.device, block_seconds=block_seconds)
        if samples < cfg.n_fft // 2 + 1:
            raise AudioError(str(path), "too short to classify")
        frames = 1 + samples // cfg.hop_length
        starts = window_starts(frames, crop, max(1, crop // 2))
        stats = RunningBandStatistics()
        buf, at, k = np.zeros((cfg.n_mels, 0), dtype=np.float32), 0, 0  # frames from frame ``at`` on
        embs: list[torch.Tensor] = []
        batch: list[np.ndarray] = []

        def embed_batch():
            if batch:
                embs.append(self.front.backbone(torch.from_numpy(np.stack(batch)).to(self.device)))
                batch.clear()

        for block in stream_frames(path, cfg, peak_db=peak, device=self.device, block_seconds=block_seconds):
            stats.update(block)
            buf = np.concatenate([buf, block], axis=1)
            while k < len(starts) and starts[k] + crop <= at + buf.shape[1]:
                batch.append(buf[:, starts[k] - at:starts[k] - at + crop])
                k += 1
                if len(batch) == self.front.batch_size:
                    embed_batch()
            drop = (starts[k] - at) if k < len(starts) else buf.shape[1]
            buf, at = buf[:, drop:], at + drop
        for s in starts[k:]:  # a file of at most one window: its frames tiled, as MelCrops does
            batch.append(fit_length(buf[:, s - at:], crop, short="tile"))
        embed_batch()
        emb = torch.cat(embs)
        st = torch.from_numpy(stats.result()).to(self.device) if self.gnn.config.band_statistics else None
        probs = self.node_probabilities(emb, st).cpu().numpy()
        return self._prediction(str(path), frames, starts, probs, top_k=top_k, per_window=per_window,
                                neighbours=self.nearest_references(emb, neighbours))

    def predict_mel(self, mel: np.ndarray, *, top_k: int = 3, per_window: bool = False, source: str = "<mel>",
                    neighbours: int = 0) -> Prediction:
        """Classify a log-mel computed by :meth:`mel`."""
        if top_k < 1:
            raise ParameterError("top_k must be >= 1")
        emb, starts = self.window_embeddings(mel)
        probs = self.node_probabilities(torch.from_numpy(emb), self.clip_statistics(mel)).cpu().numpy()
        return self._prediction(source, mel.shape[-1], starts, probs, top_k=top_k, per_window=per_window,
                                neighbours=self.nearest_references(emb, neighbours))

    def predict_many(self, sources: Sequence[str | os.PathLike], *, top_k: int = 3, per_window: bool = False,
                     workers: int = 2, windows_per_batch: int = 64,
                     neighbours: int = 0) -> Iterator[tuple[str, Prediction | GrahamError]]:
        """Classify many files; yields ``(source, Prediction)``, or ``(source, error)`` for a file
        that cannot be used, in the order given.

        Files are decoded on ``workers`` threads at most ``2 * workers`` files ahead; log-mels are
        computed in this thread (the process's torch threads: no second thread team). The windows
        of consecutive files are embedded together and attached to the reference nodes in one
        inductive pass per ``windows_per_batch`` windows; a new node receives messages only from
        reference nodes, so a file's result does not depend on the files batched with it.
        """
        if top_k < 1:
            raise ParameterError("top_k must be >= 1")
        pending: list[tuple[str, int, torch.Tensor, np.ndarray, torch.Tensor | None]] = []  # source, frames,
        # windows, starts, clip statistics

        def flush():
            if not pending:
                return
            with torch.no_grad():
                emb = self.front.embed_windows(torch.cat([w for _, _, w, _, _ in pending]))
                stats = None
                if self.gnn.config.band_statistics:  # every window carries its own clip's statistics
                    stats = torch.cat([st.expand(len(w), -1) for _, _, w, _, st in pending])
                probs = self.node_probabilities(emb, stats).cpu().numpy()
            k = 0
            for source, frames, w, starts, _ in pending:
                yield source, self._prediction(source, frames, starts, probs[k:k + len(w)], top_k=top_k,
                                               per_window=per_window,
                                               neighbours=self.nearest_references(emb[k:k + len(w)], neighbours))
                k += len(w)
            pending.clear()

        def decode(path):
            try:
                if self._is_long(path):
                    return _LONG, None  # read in blocks by this thread, when its turn comes
                return self.front.samples(path), None
            except AudioError as exc:
                return None, exc
            except OSError as exc:
                return None, AudioError(path, f"cannot read ({exc.strerror or exc})")

        queued = 0
        for path, (y, err) in map_ahead(decode, sources, workers=workers):
            source = str(path)
            if y is _LONG:
                try:
                    result = self.predict_streamed(path, top_k=top_k, per_window=per_window, neighbours=neighbours)
                except AudioError as exc:
                    y, err = None, exc
                except OSError as exc:
                    y, err = None, AudioError(path, f"cannot read ({exc.strerror or exc})")
                else:
                    yield from flush()  # keep the order of the inputs
                    queued = 0
                    yield source, result
                    continue
            if err is not None:
                yield from flush()  # keep the order of the inputs
                queued = 0
                yield source, err
                continue
            assert y is not None  # no error: the audio was read
            mel = self.front.logmel_of(y)
            windows, starts = self.front.windows(mel)
            pending.append((source, mel.shape[-1], windows, starts, self.clip_statistics(mel)))
            queued += len(windows)
            if queued >= windows_per_batch:
                yield from flush()
                queued = 0
        yield from flush()

    def _prediction(self, source: str, frames: int, starts: np.ndarray, probs: np.ndarray, *, top_k: int,
                    per_window: bool, neighbours: tuple[Neighbour, ...] = ()) -> Prediction:
        """Window probabilities [shape=(W, classes)] -> the clip's Prediction (their mean)."""
        mean = probs.mean(0)
        order = np.argsort(-mean)[:top_k]
        hop_s = self.bundle.mel.hop_length / self.bundle.mel.sr
        duration = (frames - 1) * hop_s
        windows: tuple[WindowScore, ...] = ()
        if per_window:
            windows = tuple(WindowScore(round(float(s * hop_s), 3),
                                        round(float(min((s + self.crop_frames) * hop_s, duration)), 3),
                                        tuple(GenreScore(c, float(p[k])) for k, c in enumerate(self.classes)))
                            for s, p in zip(starts, probs))
        return Prediction(source, float(duration),
                          tuple(GenreScore(self.classes[k], float(mean[k])) for k in order),
                          {c: float(mean[k]) for k, c in enumerate(self.classes)}, windows, neighbours)


#: What a decoding thread hands over for a file to be read in blocks.
_LONG = object()


def load(path: str | os.PathLike, *, device: str | None = None) -> GenreClassifier:
    """``graham.load("runs/demo/bundle")``: a :class:`GenreClassifier` ready to predict."""
    resolve_device(device)  # an unusable device is named before the bundle is read
    return GenreClassifier(load_bundle(Path(path)), device=device)
