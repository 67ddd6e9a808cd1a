"""Inference's front end: audio to samples at the bundle's rate, to one log-mel, to windows of
the training crop length (hop: half a window), to one embedding per window through the frozen
backbone; and the clip's band statistics, when the GNN reads them. No graph here: that is
:mod:`graham.inference.reference_graph`."""

from __future__ import annotations

import os

import numpy as np
import torch

from ..audio.bandstats import band_statistics
from ..audio.decode import load_audio, resample
from ..audio.mel import LogMel, MelConfig
from ..audio.windows import mel_windows
from ..errors import AudioError, ParameterError
from ..nn.frozen import frozen
from ..nn.siamese import SiameseNet

__all__ = ["FrontEnd"]


class FrontEnd:
    """The bundle's log-mel settings and Siamese backbone on ``device``, ready to turn audio into
    window embeddings. ``band_statistics``: whether :meth:`clip_statistics` computes them."""

    def __init__(self, mel: MelConfig, siamese: SiameseNet, *, crop_frames: int, device: torch.device,
                 band_statistics: bool, batch_size: int = 32) -> None:
        self.config, self.device, self.crop_frames, self.batch_size = mel, device, crop_frames, batch_size
        self.band_statistics = band_statistics
        self.logmel = LogMel(mel).to(device)
        self.siamese = siamese.to(device).eval()
        self.backbone = frozen(self.siamese.backbone)  # 2x faster on the CPU; same numbers
        # load (or, once per install, compile) the CPU log-mel kernel now, not on the first request
        self.logmel(torch.zeros(mel.n_fft, device=device))

    def samples(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> np.ndarray:
        """Mono samples at the bundle's rate, checked long enough to classify."""
        if isinstance(audio, np.ndarray):
            if sr is None:
                raise ParameterError("pass sr= with raw samples")
            y = resample(np.asarray(audio, dtype=np.float32).reshape(-1), sr, self.config.sr)
            if y.size == 0 or not np.isfinite(y).all():
                raise AudioError("<array>", "empty or non-finite samples")
        else:
            y = load_audio(audio, sr=self.config.sr)
        if y.shape[0] < self.config.n_fft // 2 + 1:
            raise AudioError(str(audio) if not isinstance(audio, np.ndarray) else "<array>", "too short to classify")
        return y

    def logmel_of(self, y: np.ndarray) -> np.ndarray:
        """Log-mel [shape=(n_mels, frames)] of samples at the bundle's rate."""
        with torch.no_grad():
            return self.logmel(torch.from_numpy(y).to(self.device)).cpu().numpy()

    def mel(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> np.ndarray:
        """Log-mel [shape=(n_mels, frames)] of a file or of samples at ``sr`` [Hz]."""
        return self.logmel_of(self.samples(audio, sr=sr))

    def windows(self, mel: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """(windows [shape=(W, n_mels, crop)], their start frames [shape=(W,)])."""
        cut, starts = mel_windows(mel, self.crop_frames, max(1, self.crop_frames // 2))
        return torch.from_numpy(cut), starts

    def embed_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """Embeddings [shape=(W, 128)] of windows, ``batch_size`` at a time."""
        return torch.cat([self.backbone(windows[k:k + self.batch_size].to(self.device))
                          for k in range(0, len(windows), self.batch_size)])

    @torch.no_grad()
    def window_embeddings(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings [shape=(W, 128)], window start frames [shape=(W,)])."""
        windows, starts = self.windows(mel)
        return self.embed_windows(windows).cpu().numpy(), starts

    def clip_statistics(self, mel: np.ndarray) -> torch.Tensor | None:
        """What a node holds beside its embedding: the clip's band statistics [shape=(3 n_mels,)]
        when the GNN reads them, else None."""
        if not self.band_statistics:
            return None
        return torch.from_numpy(band_statistics(mel)).to(self.device)
