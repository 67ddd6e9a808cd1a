"""Audio and log-mels of a long file in blocks, so that memory does not grow with its length.

:func:`stream_audio` decodes and resamples a file block by block (soundfile and soxr's
streaming resampler, which gives the very samples of a one-shot resample). :class:`MelStream`
turns those blocks into the frames of the whole file's log-mel, in order: frame ``t`` of a
centred log-mel covers samples ``t*hop - n_fft/2 .. t*hop + n_fft/2`` of the zero-padded
signal, so each block's frames are computed uncentred from the samples they need and equal
the whole file's. The one step that needs the whole file is the dB clip (``top_db`` below the
file's loudest value); :func:`file_mel_peak` finds that peak in a first pass, and the second
pass clips with it. A 2-hour file thus needs the memory of a block, not of 2 hours (0.6 GB of
samples and 0.16 GB of log-mel at 22050 Hz).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr
import torch

from ..errors import AudioError, ParameterError
from .decode import _check_readable, decoder_step, to_mono
from .mel import LogMel, MelConfig

__all__ = ["stream_audio", "MelStream", "file_mel_peak", "stream_frames"]


def stream_audio(path: str | os.PathLike, *, sr: int, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Mono float32 samples of ``path`` at ``sr`` [Hz], in blocks of about ``block_seconds``;
    concatenated, they are what :func:`graham.audio.load_audio` returns. The same failures
    raise the same :class:`AudioError` (a NaN found in a later block raises when it is read)."""
    if sr <= 0 or block_seconds <= 0:
        raise ParameterError(f"need sr > 0 and block_seconds > 0, got {sr}, {block_seconds}")
    path = Path(path)
    _check_readable(path)

    f = decoder_step(path, lambda: sf.SoundFile(str(path)))
    try:
        native = int(f.samplerate)
        stream = soxr.ResampleStream(native, sr, 1, dtype="float32", quality="HQ") if native != sr else None
        block = max(1, int(block_seconds * native))
        total = 0
        while True:
            data = decoder_step(path, lambda: f.read(frames=block, dtype="float32", always_2d=True))
            if data.shape[0] == 0:
                break
            if not np.isfinite(data).all():
                raise AudioError(path, "contains NaN or infinite samples")
            total += data.shape[0]
            y = np.ascontiguousarray(to_mono(data), dtype=np.float32)
            if stream is not None:
                y = stream.resample_chunk(y, last=False)
            if y.size:
                yield y
        if total == 0:
            raise AudioError(path, "zero-length audio (no samples)")
        if stream is not None:
            tail = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if tail.size:
                yield tail
    finally:
        f.close()


class MelStream:
    """Frames of a centred log-mel from consecutive sample blocks [each (n_mels, t) in dB,
    unclipped unless ``peak`` is given: then at most ``top_db`` below ``peak``'s dB]. Feed
    blocks with :meth:`push`, then :meth:`finish`; each returns the frames it completed."""

    def __init__(self, config: MelConfig, *, device: torch.device | str = "cpu", peak_db: float | None = None) -> None:
        if not config.center or config.pad_mode != "constant":
            raise ParameterError("streamed log-mels need centred frames padded with zeros (center=True, "
                                 "pad_mode='constant')")
        self.config = config
        self._mel = LogMel(dataclasses.replace(config, center=False, top_db=None)).to(device)
        self._device = device
        self._floor = None if peak_db is None or config.top_db is None else peak_db - config.top_db
        self._half = config.n_fft // 2
        self._buf = np.zeros(self._half, dtype=np.float32)  # the padded signal from sample ``_at`` on
        self._at = 0  # index in the padded signal of the buffer's first sample
        self.frames = 0  # frames returned so far
        self.samples = 0  # samples pushed so far

    def _frames(self) -> np.ndarray:
        """Every frame whose samples the buffer holds; the buffer keeps what later frames need."""
        c = self.config
        n = len(self._buf)
        if n < c.n_fft:
            return np.zeros((c.n_mels, 0), dtype=np.float32)
        t = 1 + (n - c.n_fft) // c.hop_length
        with torch.no_grad():
            out = self._mel(torch.from_numpy(self._buf[:(t - 1) * c.hop_length + c.n_fft]).to(self._device))
        out = out.cpu().numpy()
        if self._floor is not None:
            np.maximum(out, self._floor, out=out)
        self._buf = self._buf[t * c.hop_length:].copy()
        self._at += t * c.hop_length
        self.frames += t
        return out

    def push(self, y: np.ndarray, *, min_frames: int = 1024) -> np.ndarray:
        """Append samples; the frames now complete once at least ``min_frames`` are."""
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        self.samples += y.size
        self._buf = np.concatenate([self._buf, y])
        c = self.config
        if len(self._buf) < (min_frames - 1) * c.hop_length + c.n_fft:
            return np.zeros((c.n_mels, 0), dtype=np.float32)
        return self._frames()

    def finish(self) -> np.ndarray:
        """The last frames: the signal's end padded with ``n_fft // 2`` zeros."""
        c = self.config
        total = 1 + self.samples // c.hop_length  # frames of the centred whole-file log-mel
        self._buf = np.concatenate([self._buf, np.zeros(self._half, dtype=np.float32)])
        out = self._frames()
        if self.frames != total:
            raise AssertionError(f"streamed {self.frames} frames, the whole signal has {total}")
        return out


def stream_frames(path: str | os.PathLike, config: MelConfig, *, peak_db: float | None,
                  device: torch.device | str = "cpu", block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """The log-mel of ``path`` as consecutive blocks of frames [each (n_mels, t), dB], clipped
    with the file's ``peak_db`` (:func:`file_mel_peak`) as the whole file's log-mel is."""
    stream = MelStream(config, device=device, peak_db=peak_db)
    for y in stream_audio(path, sr=config.sr, block_seconds=block_seconds):
        out = stream.push(y)
        if out.shape[1]:
            yield out
    out = stream.finish()
    if out.shape[1]:
        yield out


def file_mel_peak(path: str | os.PathLike, config: MelConfig, *, device: torch.device | str = "cpu",
                  block_seconds: float = 30.0) -> tuple[float, int]:
    """(the loudest value of ``path``'s log-mel before the clip [dB], its number of samples):
    the first of two passes over a long file."""
    peak = -np.inf
    stream = MelStream(config, device=device)
    for y in stream_audio(path, sr=config.sr, block_seconds=block_seconds):
        out = stream.push(y)
        if out.shape[1]:
            peak = max(peak, float(out.max()))
    out = stream.finish()
    if out.shape[1]:
        peak = max(peak, float(out.max()))
    return peak, stream.samples
