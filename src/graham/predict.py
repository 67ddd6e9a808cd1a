"""Inference with a trained bundle: load once, predict many.

A clip of any length is decoded, turned into one log-mel, cut into windows of the training
crop length (hop: half a window), each window embedded by phi and attached as a new node to
every reference node of the graph; the GNN's class probabilities are averaged over windows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .audio.decode import load_audio
from .audio.mel import LogMel
from .audio.windows import window_starts
from .bundle import Bundle, load_bundle
from .errors import AudioError, ParameterError
from .nn.graphs import attach_graph, build_graph
from .train.crops import MelCrops
from .train.siamese import resolve_device

__all__ = ["GenreScore", "WindowScore", "Prediction", "GenreClassifier", "load"]


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
class Prediction:
    """A file's (or array's) result: the top-k genres, all probabilities, optional time line."""

    source: str
    duration: float
    top: tuple[GenreScore, ...]
    probabilities: dict[str, float]
    windows: tuple[WindowScore, ...] = field(default=())

    @property
    def label(self) -> str:
        return self.top[0].label

    def to_dict(self) -> dict:
        d = {"source": self.source, "duration": round(self.duration, 3), "label": self.label,
             "top": [{"label": g.label, "score": g.score} for g in self.top], "probabilities": self.probabilities}
        if self.windows:
            d["windows"] = [{"start": w.start, "end": w.end, "scores": {g.label: g.score for g in w.scores}}
                            for w in self.windows]
        return d


class GenreClassifier:
    """A bundle ready for inference (CPU by default). Thread-safe for concurrent predictions:
    it holds no per-call state."""

    def __init__(self, bundle: Bundle, *, device: str | None = None, batch_size: int = 32) -> None:
        self.bundle = bundle
        self.device = resolve_device(device)  # None or "auto": a GPU when there is one, as in every command
        self.logmel = LogMel(bundle.mel).to(self.device)
        self.siamese = bundle.siamese.to(self.device).eval()
        self.gnn = bundle.gnn.to(self.device).eval()
        self.reference = bundle.standardised_reference().to(self.device)
        self.mean = torch.as_tensor(bundle.mean, dtype=torch.float32, device=self.device)
        self.scale = torch.as_tensor(bundle.scale, dtype=torch.float32, device=self.device)
        self.crop_frames = bundle.siamese_config.crop_frames
        self.batch_size = batch_size
        self.raw_reference = torch.as_tensor(bundle.reference, dtype=torch.float32, device=self.device)
        cfg = self.gnn.config
        # The reference nodes' hidden features do not depend on the query: compute them once.
        with torch.no_grad():
            graph = build_graph(cfg.graph, self.raw_reference, k=cfg.k, head=self.siamese.head)
            self._ref_states = self.gnn.reference_states(self.reference, graph)

    @property
    def classes(self) -> list[str]:
        return self.bundle.classes

    # -- preprocess ------------------------------------------------------------------------
    def mel(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> np.ndarray:
        """Log-mel [shape=(n_mels, frames)] of a file or of samples at ``sr`` [Hz]."""
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
        with torch.no_grad():
            return self.logmel(torch.from_numpy(y).to(self.device)).cpu().numpy()

    # -- forward ---------------------------------------------------------------------------
    @torch.no_grad()
    def window_embeddings(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings [shape=(W, 128)], window start frames [shape=(W,)])."""
        hop = max(1, self.crop_frames // 2)
        crops = MelCrops([mel], self.crop_frames)
        windows = crops.windows(0, hop)
        emb = torch.cat([self.siamese.embed(windows[k:k + self.batch_size].to(self.device))
                         for k in range(0, len(windows), self.batch_size)])
        return emb.cpu().numpy(), window_starts(mel.shape[-1], self.crop_frames, hop)

    @torch.no_grad()
    def node_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """GNN logits of new nodes [shape=(W, classes)] with Siamese ``embeddings`` attached to
        the reference nodes as the bundle's graph says (every reference node, the k nearest,
        or every one weighted by s_ij): :meth:`GrahamGNN.forward_inductive`."""
        return self.node_logits_grad(embeddings)

    def node_logits_grad(self, embeddings: torch.Tensor) -> torch.Tensor:
        """As :meth:`node_logits`, differentiable (for Grad-CAM++ through the whole model)."""
        emb = embeddings.to(self.device)
        cfg = self.gnn.config
        with torch.no_grad():
            attach = attach_graph(cfg.graph, self.raw_reference, emb.detach(), k=cfg.k, head=self.siamese.head)
        return self.gnn.forward_inductive(None, (emb - self.mean) / self.scale, attach=attach, ref_states=self._ref_states)

    def embed(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> np.ndarray:
        """The clip's 128-d embedding: the mean over its windows (as in training)."""
        emb, _ = self.window_embeddings(self.mel(audio, sr=sr))
        return emb.mean(0)

    # -- postprocess -----------------------------------------------------------------------
    def predict(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None, top_k: int = 3,
                per_window: bool = False) -> Prediction:
        """Classify a file or raw samples; probabilities are averaged over windows."""
        source = str(audio) if not isinstance(audio, np.ndarray) else "<array>"
        return self.predict_mel(self.mel(audio, sr=sr), top_k=top_k, per_window=per_window, source=source)

    def predict_mel(self, mel: np.ndarray, *, top_k: int = 3, per_window: bool = False, source: str = "<mel>") -> Prediction:
        """Classify a log-mel computed by :meth:`mel`."""
        if top_k < 1:
            raise ParameterError("top_k must be >= 1")
        emb, starts = self.window_embeddings(mel)
        probs = torch.softmax(self.node_logits(torch.from_numpy(emb)), dim=1).cpu().numpy()
        mean = probs.mean(0)
        order = np.argsort(-mean)[:top_k]
        hop_s = self.bundle.mel.hop_length / self.bundle.mel.sr
        duration = (mel.shape[-1] - 1) * hop_s
        windows = ()
        if per_window:
            windows = tuple(WindowScore(round(float(s * hop_s), 3), round(float(min((s + self.crop_frames) * hop_s, duration)), 3),
                                        tuple(GenreScore(c, float(p[k])) for k, c in enumerate(self.classes)))
                            for s, p in zip(starts, probs))
        return Prediction(source, float(duration),
                          tuple(GenreScore(self.classes[k], float(mean[k])) for k in order),
                          {c: float(mean[k]) for k, c in enumerate(self.classes)}, windows)


def load(path: str | os.PathLike, *, device: str | None = None) -> GenreClassifier:
    """``graham.load("runs/demo/bundle")``: a :class:`GenreClassifier` ready to predict."""
    return GenreClassifier(load_bundle(Path(path)), device=device)
