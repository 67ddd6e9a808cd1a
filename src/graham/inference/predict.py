"""Inference with a trained bundle: load once, predict many.

A clip of any length is decoded, turned into one log-mel, cut into windows of the training
crop length (hop: half a window), each window embedded by phi and attached as a new node to
every reference node of the graph (or its k nearest); the GNN's class probabilities (after
correct & smooth, with the ``cpu`` preset) are averaged over windows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch

from ..errors import GrahamError, ParameterError
from ..utils.devices import resolve_device
from . import drivers
from .bundle import Bundle, load_bundle
from .frontend import FrontEnd
from .reference_graph import ReferenceGraph
from .results import Neighbour, Prediction

__all__ = ["GenreClassifier", "load"]


class GenreClassifier:
    """A trained model ready for inference: load once, predict many.

    It holds a :class:`~graham.inference.frontend.FrontEnd` (audio to window embeddings) and a
    :class:`~graham.inference.reference_graph.ReferenceGraph` (window embeddings to class
    probabilities), and drives them for one clip, a long file in blocks, or many files in
    shared batches (:mod:`graham.inference.drivers`). Thread-safe for concurrent predictions:
    it holds no per-call state. Make one with :func:`graham.load`.

    Parameters
    ----------
    bundle : Bundle
        A loaded bundle (:func:`~graham.inference.bundle.load_bundle`).
    device : str, optional
        ``cpu``, ``cuda``, ``cuda:N``, ``mps``; None or ``auto``: a GPU when there is one.
    batch_size : int
        Windows embedded at once.
    stream_seconds : float, optional [s]
        Files longer than this are read in blocks (default :attr:`STREAM_SECONDS`).

    Attributes
    ----------
    classes : list of str
        The genres, in the order of the probabilities.
    bundle : Bundle
        The model's settings, networks and reference clips.

    Examples
    --------
    ``bundle`` is a bundle folder (``graham train``'s ``RUN/bundle``), ``song`` an audio file:

    >>> import graham
    >>> model = graham.load(bundle)
    >>> pred = model.predict(song, top_k=2, neighbours=3)
    >>> pred.label in model.classes, len(pred.top), round(sum(pred.probabilities.values()), 6)
    (True, 2, 1.0)
    >>> [n.label in model.classes for n in pred.neighbours]
    [True, True, True]
    >>> vector = model.embed(song)  # 128-d with the cpu and paper presets; this test model's are smaller
    >>> vector.shape == (model.bundle.reference.shape[1],)
    True
    """

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
        return drivers.nearest(self.graph, window_embeddings, k)

    def embed(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> np.ndarray:
        """The clip's embedding [shape=(128,)]: the mean over its windows (as in training).

        Parameters
        ----------
        audio : str, os.PathLike or np.ndarray
            A file, or mono samples at ``sr`` [Hz].
        sr : int > 0 [Hz], optional
            The samples' rate.

        Examples
        --------
        >>> import graham, numpy as np
        >>> model = graham.load(bundle)
        >>> a, b = model.embed(song), model.embed(song)
        >>> a.ndim, bool(np.allclose(a, b))
        (1, True)
        """
        emb, _ = self.window_embeddings(self.mel(audio, sr=sr))
        return emb.mean(0)

    def extend(self, add: Mapping[str, Sequence], *, ids: Mapping[str, Sequence[str]] | None = None,
               seed: int | None = None) -> "GenreClassifier":
        """A new classifier with more labelled reference clips: a new genre, or more examples of
        one it has.

        The Siamese network is kept; only the graph part is refit
        (:func:`graham.workflows.extend.extend_bundle`, seconds on the CPU). This classifier is
        left as it is; save the new one's bundle with
        :meth:`Bundle.save <graham.inference.bundle.Bundle.save>`.

        Parameters
        ----------
        add : Mapping[str, Sequence]
            Label -> audio files, or log-mels from :meth:`mel` [each shape=(n_mels, frames)].
            A label the model does not know becomes a new class, after the old ones.
        ids : Mapping[str, Sequence[str]], optional
            Label -> the clips' ids, which predictions name as neighbours (default: the paths).
        seed : int, optional
            Seed of the refit (default: the bundle's).

        Returns
        -------
        GenreClassifier

        Examples
        --------
        >>> import graham
        >>> model = graham.load(bundle)
        >>> bigger = model.extend({"bossa": [song, song]})
        >>> bigger.classes == model.classes + ["bossa"], len(bigger.bundle.reference) - len(model.bundle.reference)
        (True, 2)
        """
        from ..workflows.extend import extend_bundle  # the one door into training code: the GNN's refit

        bundle = extend_bundle(self.bundle, add, ids=ids, seed=seed, device=str(self.device))
        return GenreClassifier(bundle, device=str(self.device), batch_size=self.front.batch_size,
                               stream_seconds=self.stream_seconds)

    # -- the drivers (:mod:`graham.inference.drivers`), each input checked here once ---------------
    def _top_k(self, top_k: int) -> int:
        if not 1 <= top_k:
            raise ParameterError("top_k must be >= 1")
        return top_k

    def predict(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None, top_k: int = 3,
                per_window: bool = False, neighbours: int = 0) -> Prediction:
        """Classify a file or raw samples.

        Parameters
        ----------
        audio : str, os.PathLike or np.ndarray
            A file of any length and format soundfile reads, or mono samples (then ``sr``).
        sr : int > 0 [Hz], optional
            The samples' rate.
        top_k : int >= 1
            Genres in :attr:`Prediction.top`.
        per_window : bool
            Also every window's scores (a time line).
        neighbours : int >= 0
            Also name that many nearest training clips (:meth:`nearest_references`).

        Returns
        -------
        Prediction
            Probabilities averaged over the clip's windows. A file longer than
            ``stream_seconds`` is read in blocks (:meth:`predict_streamed`).

        Examples
        --------
        >>> import graham, soundfile
        >>> model = graham.load(bundle)
        >>> by_file = model.predict(song, per_window=True)
        >>> samples, sr = soundfile.read(song, dtype="float32")
        >>> by_samples = model.predict(samples, sr=sr)
        >>> by_file.label == by_samples.label, len(by_file.windows) > 1
        (True, True)
        >>> w = by_file.windows[0]
        >>> (w.start, w.end <= by_file.duration), len(w.scores) == len(model.classes)
        ((0.0, True), True)
        """
        if not isinstance(audio, np.ndarray) and drivers.is_long(audio, self.stream_seconds):
            return self.predict_streamed(audio, top_k=top_k, per_window=per_window, neighbours=neighbours)
        source = str(audio) if not isinstance(audio, np.ndarray) else "<array>"
        return self.predict_mel(self.mel(audio, sr=sr), top_k=top_k, per_window=per_window, source=source,
                                neighbours=neighbours)

    def predict_streamed(self, path: str | os.PathLike, *, top_k: int = 3, per_window: bool = False,
                         block_seconds: float = 30.0, neighbours: int = 0) -> Prediction:
        """Classify a file of any length in the memory of a block of ``block_seconds``: the
        result of :meth:`predict` on the whole file, in two passes over it
        (:func:`~graham.inference.drivers.predict_streamed`)."""
        return drivers.predict_streamed(self.front, self.graph, path, top_k=self._top_k(top_k), per_window=per_window,
                                        block_seconds=block_seconds, neighbours=neighbours)

    def predict_mel(self, mel: np.ndarray, *, top_k: int = 3, per_window: bool = False, source: str = "<mel>",
                    neighbours: int = 0) -> Prediction:
        """Classify a log-mel [shape=(n_mels, frames)] computed by :meth:`mel`."""
        return drivers.predict_mel(self.front, self.graph, mel, top_k=self._top_k(top_k), per_window=per_window,
                                   source=source, neighbours=neighbours)

    def predict_many(self, sources: Sequence[str | os.PathLike], *, top_k: int = 3, per_window: bool = False,
                     workers: int = 2, windows_per_batch: int = 64,
                     neighbours: int = 0) -> Iterator[tuple[str, Prediction | GrahamError]]:
        """Classify many files; yields ``(source, Prediction)``, or ``(source, error)`` for a file
        that cannot be used, in the order given. Files are decoded ``workers`` threads ahead and
        their windows embedded in shared batches (:func:`~graham.inference.drivers.predict_many`)."""
        return drivers.predict_many(self.front, self.graph, sources, top_k=self._top_k(top_k), per_window=per_window,
                                    workers=workers, windows_per_batch=windows_per_batch, neighbours=neighbours,
                                    stream_seconds=self.stream_seconds)


def load(path: str | os.PathLike, *, device: str | None = None) -> GenreClassifier:
    """A trained bundle folder, loaded for inference (``graham.load``).

    Reads safetensors and JSON only: nothing is unpickled.

    Parameters
    ----------
    path : str or os.PathLike
        A bundle folder (``graham train``'s ``RUN/bundle``).
    device : str, optional
        ``cpu``, ``cuda``, ``cuda:N``, ``mps``; None or ``auto``: a GPU when there is one. An
        unusable device is named before the bundle is read.

    Returns
    -------
    GenreClassifier

    Raises
    ------
    BundleError
        The folder is missing, incomplete, of another format, or its weights do not fit.

    Examples
    --------
    >>> import graham
    >>> model = graham.load(bundle)
    >>> model.classes
    ['blues', 'classical', 'country', 'disco', 'hiphop', 'jazz', 'metal', 'pop', 'reggae', 'rock']
    >>> graham.load("no/such/bundle")
    Traceback (most recent call last):
    ...
    graham.errors.BundleError: bundle folder not found: no/such/bundle
    """
    resolve_device(device)  # an unusable device is named before the bundle is read
    return GenreClassifier(load_bundle(Path(path)), device=device)
