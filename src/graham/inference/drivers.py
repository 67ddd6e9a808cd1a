"""The drivers of inference, as functions over a :class:`~.frontend.FrontEnd` (audio to window
embeddings) and a :class:`~.reference_graph.ReferenceGraph` (window embeddings to class
probabilities): one clip's log-mel, a long file in blocks, and many files in shared batches.
They trust their inputs: :class:`~.predict.GenreClassifier` checks them once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from ..audio.bandstats import RunningBandStatistics
from ..audio.decode import audio_info
from ..audio.stream import file_mel_peak, stream_frames
from ..audio.windows import fit_length, window_starts
from ..errors import AudioError, GrahamError
from ..utils.parallel import map_ahead
from .frontend import FrontEnd
from .reference_graph import ReferenceGraph
from .results import Neighbour, Prediction, make_prediction

__all__ = ["nearest", "predict_mel", "predict_streamed", "predict_many", "is_long"]


def nearest(graph: ReferenceGraph, window_embeddings: torch.Tensor | np.ndarray, k: int) -> tuple[Neighbour, ...]:
    """The ``k`` training clips most similar to a clip, given its windows' embeddings."""
    return tuple(Neighbour(*n) for n in graph.nearest(window_embeddings, k))


def _result(front: FrontEnd, graph: ReferenceGraph, source: str, frames: int, starts: np.ndarray, probs: np.ndarray,
            emb: torch.Tensor | np.ndarray, *, top_k: int, per_window: bool, neighbours: int) -> Prediction:
    return make_prediction(source, frames, starts, probs, classes=graph.bundle.classes, mel=front.config,
                           crop_frames=front.crop_frames, top_k=top_k, per_window=per_window,
                           neighbours=nearest(graph, emb, neighbours))


def predict_mel(front: FrontEnd, graph: ReferenceGraph, mel: np.ndarray, *, top_k: int, per_window: bool = False,
                source: str = "<mel>", neighbours: int = 0) -> Prediction:
    """A clip's prediction from its log-mel [shape=(n_mels, frames)]: its windows embedded,
    attached to the reference nodes, their probabilities averaged."""
    emb, starts = front.window_embeddings(mel)
    probs = graph.node_probabilities(torch.from_numpy(emb), front.clip_statistics(mel)).cpu().numpy()
    return _result(front, graph, source, mel.shape[-1], starts, probs, emb, top_k=top_k, per_window=per_window,
                   neighbours=neighbours)


def is_long(path: str | os.PathLike, stream_seconds: float) -> bool:
    """Whether a file is longer than ``stream_seconds`` [s], and so read in blocks."""
    return audio_info(path).duration > stream_seconds


@torch.no_grad()
def predict_streamed(front: FrontEnd, graph: ReferenceGraph, path: str | os.PathLike, *, top_k: int,
                     per_window: bool = False, block_seconds: float = 30.0, neighbours: int = 0) -> Prediction:
    """A file of any length in the memory of a block of ``block_seconds``: the result of
    :func:`predict_mel` on the whole file's log-mel (the same frames, windows, band statistics
    and graph), computed in two passes over the file (the dB clip needs its loudest value)."""
    cfg, crop = front.config, front.crop_frames
    peak, samples = file_mel_peak(path, cfg, device=front.device, block_seconds=block_seconds)
    if samples < cfg.n_fft // 2 + 1:
        raise AudioError(str(path), "too short to classify")
    frames = 1 + samples // cfg.hop_length
    starts = window_starts(frames, crop, max(1, crop // 2))
    stats = RunningBandStatistics()
    buf, at, k = np.zeros((cfg.n_mels, 0), dtype=np.float32), 0, 0  # frames from frame ``at`` on
    embs: list[torch.Tensor] = []
    batch: list[np.ndarray] = []
    for block in stream_frames(path, cfg, peak_db=peak, device=front.device, block_seconds=block_seconds):
        stats.update(block)
        buf = np.concatenate([buf, block], axis=1)
        while k < len(starts) and starts[k] + crop <= at + buf.shape[1]:
            batch.append(buf[:, starts[k] - at:starts[k] - at + crop])
            k += 1
            if len(batch) == front.batch_size:
                embs.append(front.embed_windows(torch.from_numpy(np.stack(batch))))
                batch.clear()
        drop = (starts[k] - at) if k < len(starts) else buf.shape[1]
        buf, at = buf[:, drop:], at + drop
    batch += [fit_length(buf[:, s - at:], crop, short="tile") for s in starts[k:]]  # a file of one window at most
    if batch:
        embs.append(front.embed_windows(torch.from_numpy(np.stack(batch))))
    emb = torch.cat(embs)
    st = torch.from_numpy(stats.result()).to(front.device) if front.band_statistics else None
    probs = graph.node_probabilities(emb, st).cpu().numpy()
    return _result(front, graph, str(path), frames, starts, probs, emb, top_k=top_k, per_window=per_window,
                   neighbours=neighbours)


@dataclass
class _Pending:
    """A decoded file waiting for its batch: its windows and what its result needs."""

    source: str
    frames: int
    windows: torch.Tensor
    starts: np.ndarray
    stats: torch.Tensor | None


def _flush(front: FrontEnd, graph: ReferenceGraph, pending: list[_Pending], **result) -> Iterator[tuple[str, Prediction]]:
    """Embed the pending files' windows together, attach them in one inductive pass, and yield
    each file's result in order."""
    if not pending:
        return
    with torch.no_grad():
        emb = front.embed_windows(torch.cat([p.windows for p in pending]))
        stats = None
        if front.band_statistics:  # every window carries its own clip's statistics
            stats = torch.cat([p.stats.expand(len(p.windows), -1) for p in pending if p.stats is not None])
        probs = graph.node_probabilities(emb, stats).cpu().numpy()
    k = 0
    for p in pending:
        n = len(p.windows)
        yield p.source, _result(front, graph, p.source, p.frames, p.starts, probs[k:k + n], emb[k:k + n], **result)
        k += n
    pending.clear()


def predict_many(front: FrontEnd, graph: ReferenceGraph, sources: Sequence[str | os.PathLike], *, top_k: int,
                 per_window: bool = False, workers: int = 2, windows_per_batch: int = 64, neighbours: int = 0,
                 stream_seconds: float = 600.0) -> Iterator[tuple[str, Prediction | GrahamError]]:
    """Classify many files; yields ``(source, Prediction)``, or ``(source, error)`` for a file
    that cannot be used, in the order given.

    Files are decoded on ``workers`` threads at most ``2 * workers`` files ahead; log-mels are
    computed in this thread (the process's torch threads: no second thread team). The windows
    of consecutive files are embedded together and attached to the reference nodes in one
    inductive pass per ``windows_per_batch`` windows; a new node receives messages only from
    reference nodes, so a file's result does not depend on the files batched with it. Files
    longer than ``stream_seconds`` are read in blocks (:func:`predict_streamed`)."""
    result: dict = {"top_k": top_k, "per_window": per_window, "neighbours": neighbours}
    pending: list[_Pending] = []
    queued = 0

    def decode(path):
        if is_long(path, stream_seconds):
            return _LONG  # read in blocks by this thread, when its turn comes
        return front.samples(path)

    for path, y in map_ahead(_or_error(decode), sources, workers=workers):
        if y is _LONG:
            y = _or_error(lambda p: predict_streamed(front, graph, p, **result))(path)
        if not isinstance(y, np.ndarray):  # a Prediction read in blocks, or an error: after the files before it
            yield from _flush(front, graph, pending, **result)
            queued = 0
            yield str(path), y
            continue
        mel = front.logmel_of(y)
        windows, starts = front.windows(mel)
        pending.append(_Pending(str(path), mel.shape[-1], windows, starts, front.clip_statistics(mel)))
        queued += len(windows)
        if queued >= windows_per_batch:
            yield from _flush(front, graph, pending, **result)
            queued = 0
    yield from _flush(front, graph, pending, **result)


def _or_error(fn):
    """``fn(path)``, or the :class:`AudioError` saying why the file cannot be used."""
    def call(path):
        try:
            return fn(path)
        except AudioError as exc:
            return exc
        except OSError as exc:
            return AudioError(path, f"cannot read ({exc.strerror or exc})")

    return call


#: What a decoding thread hands over for a file to be read in blocks.
_LONG = object()
