"""Production effects in numpy/scipy: drive with a cabinet filter, reverb, compression, EQ, loudness."""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve, lfilter

__all__ = ["lowpass", "highpass", "distort", "reverb", "compress", "normalise_loudness"]


def lowpass(x: np.ndarray, cutoff: float, sr: int, *, poles: int = 1) -> np.ndarray:
    """Cascade of ``poles`` one-pole low-pass filters at ``cutoff`` [Hz]."""
    a = np.exp(-2 * np.pi * min(cutoff, 0.45 * sr) / sr)
    for _ in range(poles):
        x = lfilter([1 - a], [1, -a], x)
    return x


def highpass(x: np.ndarray, cutoff: float, sr: int) -> np.ndarray:
    return x - lowpass(x, cutoff, sr)


def distort(x: np.ndarray, drive: float, sr: int) -> np.ndarray:
    """Waveshaping (tanh) with gain rising with ``drive`` in [0, 1], then a guitar-cabinet-like
    band-pass (high-pass 90 Hz, two-pole low-pass near 4 kHz)."""
    if drive <= 0:
        return x
    peak = np.abs(x).max() + 1e-9
    g = 1 + 40 * drive ** 1.5
    y = np.tanh(g * x / peak) / np.tanh(g)
    y = lowpass(highpass(y, 90, sr), 3800 + 1500 * (1 - drive), sr, poles=2)
    return y * peak


def reverb(x: np.ndarray, wet: float, sr: int, rng: np.random.Generator, *, seconds: float | None = None) -> np.ndarray:
    """Convolution with a decaying, darkening noise tail (a simple room); ``wet`` in [0, 1]."""
    if wet <= 0:
        return x
    rt = seconds if seconds is not None else 0.6 + 3.0 * wet
    n = int(rt * sr)
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt)
    ir = lowpass(ir, 5000, sr)
    ir[: int(0.012 * sr)] = 0.0  # pre-delay
    ir /= np.sqrt(np.sum(ir ** 2)) + 1e-12
    tail = fftconvolve(x, ir)[: x.shape[0]]
    return (1 - wet) * x + wet * tail


def compress(x: np.ndarray, amount: float, sr: int) -> np.ndarray:
    """Feed-forward RMS compressor: threshold falls and ratio rises with ``amount`` in [0, 1]."""
    if amount <= 0:
        return x
    a = np.exp(-1.0 / (0.03 * sr))
    env = np.sqrt(lfilter([1 - a], [1, -a], x * x) + 1e-12)
    ref = np.sqrt(np.mean(x * x)) + 1e-12
    threshold = ref * (1.5 - amount)
    ratio = 1 + 7 * amount
    over = np.maximum(env / threshold, 1.0)
    gain = over ** (1.0 / ratio - 1.0)
    return x * gain


def normalise_loudness(x: np.ndarray, target_db: float) -> np.ndarray:
    """Scale to an RMS of ``target_db`` [dBFS]; soft-limit peaks above -0.5 dBFS."""
    rms = np.sqrt(np.mean(x * x)) + 1e-12
    y = x * (10 ** (target_db / 20) / rms)
    ceiling = 10 ** (-0.5 / 20)
    over = np.abs(y) > ceiling * 0.9
    if over.any():
        knee = ceiling * 0.9
        y = np.where(over, np.sign(y) * (knee + (ceiling - knee) * np.tanh((np.abs(y) - knee) / (ceiling - knee))), y)
    return y
