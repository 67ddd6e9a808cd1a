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

from .audio.bandstats import RunningBandStatistics, band_statistics
from .audio.decode import audio_info, load_audio
from .audio.mel import LogMel
from .audio.stream import file_mel_peak, stream_frames
from .audio.windows import fit_length, mel_windows, window_starts
from .bundle import Bundle, load_bundle
from .devices import resolve_device
from .errors import AudioError, GrahamError, ParameterError
from .nn.frozen import frozen
from .nn.graphs import attach_graph, build_graph
from .nn.node_features import node_features, standardise
from .nn.propagate import SmoothConfig, attach_smoothed, graph_coordinates, normalise_scores, smooth_reference
from .parallel import map_ahead

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
    """A bundle ready for inference (CPU by default). Thread-safe for concurrent predictions:
    it holds no per-call state."""

    #: Files longer than this [s] are decoded, turned into log-mels and embedded in blocks (two
    #: passes: the dB clip needs the file's loudest value first), so that memory does not grow
    #: with their length; shorter ones are read whole, once.
    STREAM_SECONDS = 600.0

    def __init__(self, bundle: Bundle, *, device: str | None = None, batch_size: int = 32,
                 stream_seconds: float | None = None) -> None:
        self.bundle = bundle
        self.stream_seconds = self.STREAM_SECONDS if stream_seconds is None else float(stream_seconds)
        self.device = resolve_device(device)  # None or "auto": a GPU when there is one, as in every command
        self.logmel = LogMel(bundle.mel).to(self.device)
        self.siamese = bundle.siamese.to(self.device).eval()
        self._backbone = frozen(self.siamese.backbone)  # 2x faster on the CPU; same numbers
        self.gnn = bundle.gnn.to(self.device).eval()
        self.reference = bundle.standardised_reference().to(self.device)
        self.mean = torch.as_tensor(bundle.mean, dtype=torch.float32, device=self.device)
        self.scale = torch.as_tensor(bundle.scale, dtype=torch.float32, device=self.device)
        self.crop_frames = bundle.siamese_config.crop_frames
        self.batch_size = batch_size
        self.raw_reference = torch.as_tensor(bundle.reference, dtype=torch.float32, device=self.device)
        self._reference_unit = torch.nn.functional.normalize(self.raw_reference, dim=1)
        cfg = self.gnn.config
        # The reference nodes' hidden features do not depend on the query: compute them once.
        ref_labels = torch.as_tensor(bundle.reference_labels, device=self.device)
        with torch.no_grad():
            graph = build_graph(cfg.graph, self.raw_reference, k=cfg.k, head=self.siamese.head)
            self._ref_states = self.gnn.reference_states(self.reference, graph, labels=ref_labels)
            # Correct & smooth among the reference clips once; a query's windows attach to them.
            self._smoothed = None
            if cfg.smooth:
                ref_proba = torch.softmax(self.gnn(self.reference, graph, labels=ref_labels), 1)
                labelled = torch.nonzero(ref_labels >= 0).flatten()
                self._smoothed = smooth_reference(ref_proba, self._graph_features(self.raw_reference),
                                                  ref_labels[labelled], labelled, SmoothConfig(k=cfg.k))
            # load (or, once per install, compile) the CPU log-mel kernel now, not on the first request
            self.logmel(torch.zeros(bundle.mel.n_fft, device=self.device))

    @property
    def classes(self) -> list[str]:
        return self.bundle.classes

    # -- preprocess ------------------------------------------------------------------------
    def mel(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> np.ndarray:
        """Log-mel [shape=(n_mels, frames)] of a file or of samples at ``sr`` [Hz]."""
        return self._logmel(self._samples(audio, sr=sr))

    def _logmel(self, y: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.logmel(torch.from_numpy(y).to(self.device)).cpu().numpy()

    def _samples(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> np.ndarray:
        """Mono samples at the bundle's rate, checked long enough to classify."""
        if isinstance(audio, np.ndarray):
            if sr is None:
                raise ParameterError("pass sr= with raw samples")
            from .audio.decode import resample
            y = resample(np.asarray(audio, dtype=np.float32).reshape(-1), sr, self.bundle.mel.sr)
            if y.size == 0 or not np.isfinite(y).all():
                raise AudioError("<array>", "empty or non-finite samples")
        else:
            y = load_audio(audio, sr=self.bundle.mel.sr)
        if y.shape[0] < self.bundle.mel.n_fft // 2 + 1:
            raise AudioError(str(audio) if not isinstance(audio, np.ndarray) else "<array>", "too short to classify")
        return y

    # -- forward ---------------------------------------------------------------------------
    @torch.no_grad()
    def window_embeddings(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings [shape=(W, 128)], window start frames [shape=(W,)])."""
        windows, starts = self._windows(mel)
        return self._embed_windows(windows).cpu().numpy(), starts

    def _windows(self, mel: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        windows, starts = mel_windows(mel, self.crop_frames, max(1, self.crop_frames // 2))
        return torch.from_numpy(windows), starts

    def _embed_windows(self, windows: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._backbone(windows[k:k + self.batch_size].to(self.device))
                          for k in range(0, len(windows), self.batch_size)])

    def clip_statistics(self, mel: np.ndarray) -> torch.Tensor | None:
        """What a node holds beside its embedding: the clip's band statistics [shape=(3 n_mels,)]
        when the GNN reads them (``band_statistics``), else None."""
        if not self.gnn.config.band_statistics:
            return None
        return torch.from_numpy(band_statistics(mel)).to(self.device)

    @torch.no_grad()
    def node_logits(self, embeddings: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        """GNN logits of new nodes [shape=(W, classes)] with Siamese ``embeddings`` attached to
        the reference nodes as the bundle's graph says (every reference node, the k nearest,
        or every one weighted by s_ij): :meth:`GrahamGNN.forward_inductive`. ``stats``: the
        band statistics of each node's clip [shape=(3 n_mels,) for all, or (W, 3 n_mels)], from
        :meth:`clip_statistics`; needed when the GNN reads them."""
        return self.node_logits_grad(embeddings, stats)

    def node_logits_grad(self, embeddings: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        """As :meth:`node_logits`, differentiable (for Grad-CAM++ through the whole model)."""
        emb = embeddings.to(self.device)
        cfg = self.gnn.config
        if cfg.band_statistics and stats is None:
            raise ParameterError("this model reads each clip's band statistics: pass stats=clip_statistics(mel)")
        x = node_features(emb, stats if cfg.band_statistics else None)
        with torch.no_grad():
            attach = attach_graph(cfg.graph, self.raw_reference, emb.detach(), k=cfg.k, head=self.siamese.head)
        return self.gnn.forward_inductive(None, standardise(x, self.mean, self.scale), attach=attach,
                                          ref_states=self._ref_states)

    def _graph_features(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Embeddings standardised as in training: what correct & smooth's kNN graph is built on."""
        return graph_coordinates(embeddings.to(self.device), self.mean, self.scale)

    @torch.no_grad()
    def node_probabilities(self, embeddings: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        """Class probabilities of new nodes [shape=(W, classes)]: the GNN's softmax and, with the
        GNN setting ``smooth``, correct & smooth with each node attached to its k nearest
        reference clips (:func:`graham.nn.propagate.attach_smoothed`), scores normalised to sum 1.
        New nodes go through in groups of ``NODES_PER_PASS``: a node's messages come from reference
        nodes only, so the groups give the same result, in memory that does not grow with W."""
        per_node = stats is not None and stats.dim() == 2  # else one clip's statistics for every node
        step = self.NODES_PER_PASS
        return torch.cat([self._node_probabilities(embeddings[k:k + step],
                                                   stats[k:k + step] if per_node and stats is not None else stats)
                          for k in range(0, embeddings.shape[0], step)])

    #: New nodes per inductive pass of :meth:`node_probabilities`.
    NODES_PER_PASS = 256

    def _node_probabilities(self, embeddings: torch.Tensor, stats: torch.Tensor | None) -> torch.Tensor:
        proba = torch.softmax(self.node_logits(embeddings, stats), dim=1)
        if self._smoothed is None:
            return proba
        return normalise_scores(attach_smoothed(self._smoothed, proba, self._graph_features(embeddings)))

    def embed(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> np.ndarray:
        """The clip's 128-d embedding: the mean over its windows (as in training)."""
        emb, _ = self.window_embeddings(self.mel(audio, sr=sr))
        return emb.mean(0)

    # -- postprocess -----------------------------------------------------------------------
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

    @torch.no_grad()
    def nearest_references(self, window_embeddings: torch.Tensor | np.ndarray, k: int) -> tuple[Neighbour, ...]:
        """The ``k`` training clips most similar to a clip, given its windows' embeddings
        [shape=(W, d)]: by the mean over windows of the cosine similarity, which is the mean
        of the windows' unit vectors against each clip's unit vector (one product, whatever W)."""
        if k <= 0:
            return ()
        emb = torch.as_tensor(window_embeddings, dtype=torch.float32, device=self.device)
        mean_unit = torch.nn.functional.normalize(emb, dim=1).mean(0)
        sims = self._reference_unit @ mean_unit
        top = torch.topk(sims, min(k, sims.shape[0]))
        ids = self.bundle.reference_ids
        labels = self.bundle.reference_labels
        return tuple(Neighbour(ids[i] if ids is not None else f"reference {i}",
                               self.classes[labels[i]] if labels[i] >= 0 else None, round(float(s), 6))
                     for s, i in zip(top.values.tolist(), top.indices.tolist()))

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
                embs.append(self._backbone(torch.from_numpy(np.stack(batch)).to(self.device)))
                batch.clear()

        for block in stream_frames(path, cfg, peak_db=peak, device=self.device, block_seconds=block_seconds):
            stats.update(block)
            buf = np.concatenate([buf, block], axis=1)
            while k < len(starts) and starts[k] + crop <= at + buf.shape[1]:
                batch.append(buf[:, starts[k] - at:starts[k] - at + crop])
                k += 1
                if len(batch) == self.batch_size:
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
                emb = self._embed_windows(torch.cat([w for _, _, w, _, _ in pending]))
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
                return self._samples(path), None
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
            mel = self._logmel(y)
            windows, starts = self._windows(mel)
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
