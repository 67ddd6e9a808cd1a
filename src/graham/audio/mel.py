"""Log-mel spectrograms in torch with librosa's conventions, batched, on CPU or GPU.

``LogMel`` reproduces ``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, ...))``
(librosa 0.11: periodic Hann window, centred frames padded with zeros, Slaney mel scale and
area normalisation) to within 0.01 dB. On the CPU without autograd, in float32 with a
power-of-two n_fft, one compiled kernel goes from the signal to the mel power with its own FFT
(``stftkernel.py``); otherwise MKL takes the FFT of the unwindowed frames straight from the
signal (``unfold``, no copy) and a kernel applies the window in frequency and projects onto the
bands through the two triangles each FFT bin feeds (``melkernel.py``). On the GPU, or with
gradients, it windows the frames and projects block by block over only the FFT bins each block
of bands covers, with the squaring of the spectrum folded into that product
(``benchmarks/bench_mel.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ParameterError
from . import stftkernel
from .melkernel import BandRuns, band_runs, hann_mel_power

__all__ = ["MelConfig", "hz_to_mel", "mel_to_hz", "mel_frequencies", "mel_filterbank", "power_to_db", "LogMel"]

_PAD_MODES = ("constant", "reflect")


@dataclass(frozen=True)
class MelConfig:
    """Settings of the log-mel front end; defaults are librosa's (and the paper's 22050 Hz).

    sr [Hz], n_fft and hop_length [samples], n_mels, fmin/fmax [Hz] (fmax None: sr/2),
    htk (HTK formula instead of Slaney's), norm ("slaney" or None), power (1: magnitude,
    2: power), center and pad_mode (librosa 0.11 pads centred frames with zeros), and the
    dB conversion's ref, amin and top_db (None: no clipping).
    """

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    norm: str | None = "slaney"
    power: float = 2.0
    center: bool = True
    pad_mode: str = "constant"
    ref: float = 1.0
    amin: float = 1e-10
    top_db: float | None = 80.0

    def __post_init__(self) -> None:
        if self.sr <= 0 or self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ParameterError("sr, n_fft, hop_length and n_mels must be > 0")
        fmax = self.sr / 2 if self.fmax is None else self.fmax
        if not 0 <= self.fmin < fmax <= self.sr / 2:
            raise ParameterError(f"need 0 <= fmin < fmax <= sr/2, got fmin={self.fmin}, fmax={fmax}")
        if self.norm not in ("slaney", None):
            raise ParameterError(f"norm must be 'slaney' or None, got {self.norm!r}")
        if self.power <= 0:
            raise ParameterError(f"power must be > 0, got {self.power}")
        if self.pad_mode not in _PAD_MODES:
            raise ParameterError(f"pad_mode must be one of {_PAD_MODES}, got {self.pad_mode!r}")
        if self.amin <= 0 or self.ref <= 0:
            raise ParameterError("amin and ref must be > 0")
        if self.top_db is not None and self.top_db < 0:
            raise ParameterError(f"top_db must be >= 0 or None, got {self.top_db}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ParameterError(f"unknown MelConfig fields: {sorted(unknown)}")
        return cls(**d)

    def key(self) -> str:
        """A short stable hash of the settings, used to key cached features."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:12]

    def n_frames(self, n_samples: int) -> int:
        """Number of frames for a signal of ``n_samples`` samples."""
        if self.center:
            return 1 + n_samples // self.hop_length
        return 1 + (n_samples - self.n_fft) // self.hop_length


def hz_to_mel(f: np.ndarray | float, *, htk: bool = False) -> np.ndarray:
    """Hz -> mel, Slaney's (linear below 1 kHz, logarithmic above) or HTK's formula."""
    f = np.asanyarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    mels = f / f_sp
    log_part = min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log_part, mels)


def mel_to_hz(m: np.ndarray | float, *, htk: bool = False) -> np.ndarray:
    """mel -> Hz, the inverse of :func:`hz_to_mel`."""
    m = np.asanyarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_frequencies(n_mels: int, *, fmin: float, fmax: float, htk: bool = False) -> np.ndarray:
    """``n_mels`` frequencies [Hz] evenly spaced on the mel scale from ``fmin`` to ``fmax``."""
    mels = np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels)
    return mel_to_hz(mels, htk=htk)


@lru_cache(maxsize=16)
def _filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, norm: str | None) -> np.ndarray:
    fftfreqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    mel_f = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


def mel_filterbank(*, sr: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
                   htk: bool = False, norm: str | None = "slaney") -> np.ndarray:
    """Triangular mel filters [shape=(n_mels, 1 + n_fft // 2), float32], equal to
    ``librosa.filters.mel`` with the same arguments. Cached; the array is read-only."""
    fmax = sr / 2 if fmax is None else float(fmax)
    return _filterbank(int(sr), int(n_fft), int(n_mels), float(fmin), fmax, bool(htk), norm)


def power_to_db(S: torch.Tensor, *, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0,
                dims: int = 2) -> torch.Tensor:
    """``10 log10(max(S, amin) / ref)``, clipped to ``top_db`` below the maximum of each item.

    The maximum is taken over the last ``dims`` axes, so a batch [shape=(B, n_mels, T)] is
    clipped per clip, as librosa clips each array it is given.
    """
    if not (torch.is_grad_enabled() and S.requires_grad):  # the same steps, in one fresh buffer
        return _to_db_(S.clone(), ref=ref, amin=amin, top_db=top_db, dims=dims)
    log_spec = 10.0 * torch.log10(torch.clamp(S, min=amin))
    log_spec = log_spec - 10.0 * np.log10(max(amin, ref))
    if top_db is not None:
        peak = log_spec.amax(dim=tuple(range(-dims, 0)), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - top_db)
    return log_spec


def _to_db_(S: torch.Tensor, *, ref: float, amin: float, top_db: float | None, dims: int,
            peaks: list[float] | None = None) -> torch.Tensor:
    """:func:`power_to_db` in place on ``S`` (no autograd): each pass over a clip's spectrogram
    costs as much as the mel projection, so none allocates. ``peaks``: each item's maximum, from
    the CPU kernel, which has also raised ``S`` to ``amin`` already (two passes fewer)."""
    if peaks is None:
        S.clamp_(min=amin)
    S.log10_().mul_(10.0)
    shift = 10.0 * np.log10(max(amin, ref))
    if shift:
        S.sub_(shift)
    if top_db is not None:
        if peaks is None:
            peak = S.amax(dim=tuple(range(-dims, 0)), keepdim=True)
            torch.maximum(S, peak - top_db, out=S)
        else:
            for item, top in zip(S.reshape(-1, *S.shape[-dims:]), peaks):
                item.clamp_(min=10.0 * np.log10(max(top, amin)) - shift - top_db)
    return S


class LogMel(torch.nn.Module):
    """Waveforms [shape=(..., samples)] -> log-mel spectrograms [shape=(..., n_mels, frames)] in dB.

    The window and the mel filterbank are buffers, so ``.to(device)`` moves them. Inputs are
    float32 on the module's device; any leading batch shape is kept.
    """

    #: Mel bands per block of the banded projection.
    BLOCK = 16

    window: torch.Tensor  # buffers (registered in __init__, moved by .to())
    filterbank: torch.Tensor

    def __init__(self, config: MelConfig | None = None) -> None:
        super().__init__()
        self.config = config or MelConfig()
        c = self.config
        self.register_buffer("window", torch.hann_window(c.n_fft, periodic=True, dtype=torch.float32), persistent=False)
        fb = torch.from_numpy(mel_filterbank(sr=c.sr, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax,
                                             htk=c.htk, norm=c.norm).copy())
        self.register_buffer("filterbank", fb, persistent=False)
        # Banded projection: each block of BLOCK mel bands only reads the FFT bins its
        # triangles cover, ~1/8 of the dense product's work for 128 bands. With power 2 the
        # weights are interleaved (re, im, re, im, ...) so that squaring the real view of the
        # spectrum and one matmul give |X|^2 projected, without a separate power pass.
        self._blocks: list[tuple[int, int]] = []
        fused = c.power == 2.0
        for b, m0 in enumerate(range(0, c.n_mels, self.BLOCK)):
            m1 = min(m0 + self.BLOCK, c.n_mels)
            cols = torch.nonzero(fb[m0:m1].sum(0) > 0).flatten()
            k0, k1 = (int(cols.min()), int(cols.max()) + 1) if cols.numel() else (0, 1)
            w = fb[m0:m1, k0:k1].T.contiguous()
            if fused:
                w, k0, k1 = w.repeat_interleave(2, dim=0), 2 * k0, 2 * k1
            self.register_buffer(f"_band{b}", w, persistent=False)
            self._blocks.append((k0, k1))
        #: The compiled CPU kernel's view of the filterbank (None: it does not apply, use torch).
        self._runs = band_runs(fb.numpy())
        self._runs64: BandRuns | None = None
        #: Set False to run the torch path on the CPU too (benchmarks compare the two).
        self.use_kernel = True
        #: Set False to use MKL's FFT and the window-and-project kernel where the fused kernel
        #: (its own FFT, ``stftkernel.py``) would apply: float32, power-of-two n_fft, even hop.
        self.use_fft_kernel = True

    #: Frames per FFT call on the kernel path: a 30-s clip (1,292 frames) in one call, since blocks
    #: of 64-512 frames measured no faster; the cap bounds the spectrum's memory (17 MB at n_fft 2048).
    FRAME_BLOCK = 2048

    def _project(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, K) spectral features -> (B, n_mels, T) through the banded filterbank."""
        parts = [torch.matmul(feats[..., k0:k1], getattr(self, f"_band{b}")) for b, (k0, k1) in enumerate(self._blocks)]
        return torch.cat(parts, dim=-1).transpose(-1, -2)

    def _spectral_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Windowed frames (..., n_fft) -> |X|^power, as interleaved re^2, im^2 for power 2
        (squared in place in the spectrum's own memory)."""
        spec = torch.fft.rfft(frames)  # (..., 1 + n_fft // 2), complex (a reused out= buffer measured slower)
        if self.config.power == 2.0:
            return torch.view_as_real(spec).flatten(-2).square_()
        return spec.abs().pow_(self.config.power)

    def _mel_kernel(self, frames: torch.Tensor, runs: BandRuns, floor: float = 0.0) -> tuple[torch.Tensor, list[float]]:
        """The CPU path without autograd: unwindowed frames (B, T, n_fft), a view of the padded
        signal -> (B, n_mels, T), each value at least ``floor``, and each clip's largest value.
        Up to ``FRAME_BLOCK`` frames go through MKL's FFT at a time and the kernel windows,
        squares and projects them into the output in place."""
        n, t = frames.shape[0], frames.shape[1]
        out = torch.empty(n, self.config.n_mels, t, dtype=frames.dtype)
        threads = torch.get_num_threads()
        peaks = [floor] * n
        for i in range(n):
            dest = out[i].numpy()
            for s in range(0, t, self.FRAME_BLOCK):
                block = frames[i, s:s + self.FRAME_BLOCK]
                spec = torch.view_as_real(torch.fft.rfft(block)).numpy().reshape(block.shape[0], -1)
                peaks[i] = max(peaks[i], hann_mel_power(spec, runs, n_fft=self.config.n_fft, power=self.config.power,
                                                        out=dest, start=s, threads=threads, floor=floor))
        return out, peaks

    def _mel_fused(self, y: torch.Tensor, runs: BandRuns, floor: float) -> tuple[torch.Tensor, list[float]]:
        """The CPU path in float32 for a power-of-two n_fft: signals (B, samples) -> (B, n_mels, T)
        and each clip's largest value, one call of the fused kernel per clip (``stftkernel.py``),
        which pads centred frames with zeros itself."""
        c = self.config
        start = 0
        if c.center and c.pad_mode == "reflect":
            y = F.pad(y[:, None], (c.n_fft // 2, c.n_fft // 2), mode="reflect")[:, 0]
        elif c.center:
            start = -(c.n_fft // 2)
        length = y.shape[-1] - 2 * start  # of the (virtually) padded signal
        if length < c.n_fft:
            raise ParameterError(f"signal of {length} samples is shorter than n_fft={c.n_fft}")
        y = y.contiguous()
        out = torch.empty(y.shape[0], c.n_mels, 1 + (length - c.n_fft) // c.hop_length, dtype=y.dtype)
        threads = torch.get_num_threads()
        peaks = [stftkernel.stft_mel_power(y[i].numpy(), runs, n_fft=c.n_fft, hop=c.hop_length, power=c.power,
                                           out=out[i].numpy(), threads=threads, floor=floor, start=start)
                 for i in range(y.shape[0])]
        return out, peaks

    def _kernel_runs(self, dtype: torch.dtype) -> BandRuns | None:
        """The filterbank's runs in ``dtype``, or None when the kernel does not apply."""
        if (not self.use_kernel or self._runs is None or self.config.n_fft < 4
                or dtype not in (torch.float32, torch.float64)):
            return None
        if dtype == torch.float32:
            return self._runs
        if self._runs64 is None:
            self._runs64 = self._runs.astype(np.float64)
        return self._runs64

    def mel_power(self, y: torch.Tensor) -> torch.Tensor:
        """Mel spectrogram before the dB conversion [shape=(..., n_mels, frames)]. Samples of any
        real dtype are accepted and computed in the module's dtype (float32 unless ``.double()``)."""
        return self._mel(y)[0]

    def _mel(self, y: torch.Tensor, floor: float = 0.0) -> tuple[torch.Tensor, list[float] | None]:
        """Mel power and, from the CPU kernel, each clip's largest value (values below ``floor``
        raised to it there; None: the torch path, which neither floors nor reports)."""
        c = self.config
        if not torch.is_floating_point(y) and not y.dtype.is_complex:
            y = y.float()
        y = y.to(self.window.dtype)
        lead = y.shape[:-1]
        y = y.reshape(-1, y.shape[-1])
        runs = self._kernel_runs(y.dtype)
        if y.device.type == "cpu" and runs is not None and not (torch.is_grad_enabled() and y.requires_grad):
            if self.use_fft_kernel and y.dtype == torch.float32 and stftkernel.applies(c.n_fft, c.hop_length):
                mel, peaks = self._mel_fused(y, runs, floor)
            else:
                mel, peaks = self._mel_kernel(self._frames(y), runs, floor)
        else:  # GPU, or gradients wanted: the whole batch at once
            mel, peaks = self._project(self._spectral_features(self._frames(y) * self.window)).contiguous(), None
        return mel.reshape(*lead, c.n_mels, mel.shape[-1]), peaks

    def _frames(self, y: torch.Tensor) -> torch.Tensor:
        """Frames of ``y`` [shape=(B, samples)] -> [shape=(B, T, n_fft)], a view of the padded
        signal (copying only the few frames that reach into the padding was measured no faster:
        it takes three FFT calls instead of one)."""
        c = self.config
        if c.center:
            half = c.n_fft // 2
            if c.pad_mode == "reflect":
                y = F.pad(y[:, None], (half, half), mode="reflect")[:, 0]
            else:  # zeros at both ends only (F.pad would zero the whole buffer first)
                edge = y.new_zeros(y.shape[0], half)
                y = torch.cat([edge, y, edge], dim=-1)
        if y.shape[-1] < c.n_fft:
            raise ParameterError(f"signal of {y.shape[-1]} samples is shorter than n_fft={c.n_fft}")
        return y.unfold(-1, c.n_fft, c.hop_length)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        c = self.config
        mel, peaks = self._mel(y, floor=c.amin)
        if torch.is_grad_enabled() and mel.requires_grad:
            return power_to_db(mel, ref=c.ref, amin=c.amin, top_db=c.top_db)
        return _to_db_(mel, ref=c.ref, amin=c.amin, top_db=c.top_db, dims=2, peaks=peaks)  # mel is ours to overwrite

    def extra_repr(self) -> str:
        c = self.config
        return f"sr={c.sr}, n_fft={c.n_fft}, hop_length={c.hop_length}, n_mels={c.n_mels}, top_db={c.top_db}"
